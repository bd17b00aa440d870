/*
 * The least a relay on the Docker API socket can cost: every byte from a client connection to
 * its own upstream connection and back, half-closes passed on, nothing parsed. One thread,
 * epoll, blocking writes (the bench's calls are small). Not a front: it names nobody and judges
 * nothing; `pnpm bench docker-relay` measures it beside `contid docker front` and a bare Node
 * pipe to show what of the front's cost is the relay itself and what is the runtime it runs on.
 * Usage: relay-floor LISTEN UPSTREAM
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FD 65536

/* For each fd: the other end of its pair, and whether it has read its end. */
static int peer[MAX_FD];
static char ended[MAX_FD];
static int ep;

static int unix_socket(const char *path, int listening) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof a.sun_path) return -1;
  strcpy(a.sun_path, path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  if (listening ? (unlink(path), bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 128)) : connect(s, (struct sockaddr *)&a, sizeof a)) {
    close(s);
    return -1;
  }
  return s;
}

static void watch(int fd) {
  struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

/* Both ends closed; events already taken for either in this round are skipped (peer -1). */
static void drop(int fd) {
  int p = peer[fd];
  peer[fd] = peer[p] = -1;
  close(fd);
  close(p);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: relay-floor LISTEN UPSTREAM\n");
    return 2;
  }
  int l = unix_socket(argv[1], 1);
  if (l < 0) {
    perror(argv[1]);
    return 1;
  }
  ep = epoll_create1(EPOLL_CLOEXEC);
  watch(l);
  printf("relay-floor: %s -> %s\n", argv[1], argv[2]);
  fflush(stdout);
  static char buf[65536];
  struct epoll_event ev[64];
  for (;;) {
    int n = epoll_wait(ep, ev, 64, -1);
    for (int i = 0; i < n; i++) {
      int fd = ev[i].data.fd;
      if (fd == l) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        int u = unix_socket(argv[2], 0);
        if (u < 0 || c >= MAX_FD || u >= MAX_FD) {
          close(c);
          if (u >= 0) close(u);
          continue;
        }
        peer[c] = u, peer[u] = c, ended[c] = ended[u] = 0;
        watch(c), watch(u);
        continue;
      }
      if (peer[fd] < 0) continue;
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) {
        for (ssize_t o = 0, w; o < r; o += w)
          if ((w = write(peer[fd], buf + o, r - o)) <= 0) {
            drop(fd);
            break;
          }
        continue;
      }
      if (r < 0) {
        drop(fd);
        continue;
      }
      /* This side ended: the other is told it will get nothing more; both closed once both ended. */
      epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
      shutdown(peer[fd], SHUT_WR);
      ended[fd] = 1;
      if (ended[peer[fd]]) drop(fd);
    }
  }
}
