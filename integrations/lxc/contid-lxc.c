/*
 * contid-lxc-fast: `contid lxc start NAME`'s recorded start compiled (#15). The sh contid-lxc
 * stays the reference: this program does exactly what it does on its start_recorded path — the
 * same checks of the instance record and the config, the same renewed session, the same two
 * spool entries' bytes, the same lxc-start — and hands every other case to the sh beside it
 * before anything changed (no session renewed, nothing written): attach, hook, lxc-start
 * options, a config with an include, a namespace setting, another start-host hook or none of
 * contid's, a recorded instance file, no spool directory, a failed renewal.
 *
 * Why compiled: LXC's start waits for it, and dash parsing the two scripts and reading the
 * config one byte per read(2) was most of what the wrapper added to a start (docs/lxc.md).
 * Built on the host like contid-runc-fast (scripts/build-shim.sh: the distro's cc, static).
 * test/lxc/fast-start.test.ts runs both and compares what they write.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define LXC_CONFIG_DIR "/usr/share/lxc/config"
/* What LXC's config parser trims around a key and its value (the sh's lxc_blank). */
#define BLANK " \t\r"

static char **g_argv;
static char g_dir[PATH_MAX]; /* the directory argv[0] names: where the sh contid-lxc is */

/* The sh contid-lxc beside this program, with the same arguments: it redoes everything. */
static void to_sh(void) {
  char sh[PATH_MAX];
  struct stat a, b;
  if ((size_t)snprintf(sh, sizeof sh, "%s/contid-lxc", g_dir) >= sizeof sh) {
    fputs("contid-lxc: its directory's name is too long\n", stderr);
    exit(127);
  }
  /* Installed under the sh's own name, it would run itself for ever. */
  if (stat(sh, &a) == 0 && stat("/proc/self/exe", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
    fprintf(stderr, "contid-lxc: %s is the compiled contid-lxc-fast, not the sh it needs beside it (reinstall contid)\n", sh);
    exit(127);
  }
  g_argv[0] = sh;
  execv(sh, g_argv);
  fprintf(stderr, "contid-lxc: cannot run %s: %s (reinstall contid)\n", sh, strerror(errno));
  exit(127);
}

#define PATHF(buf, ...) \
  do { \
    int len_ = snprintf(buf, sizeof buf, __VA_ARGS__); \
    if (len_ < 0 || (size_t)len_ >= sizeof buf) to_sh(); \
  } while (0)

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* A whole small file (at most max bytes) into buf, NUL-terminated; -1 if unreadable or larger. */
static ssize_t slurp(const char *path, char *buf, size_t max) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  for (;;) {
    if (n == max) {
      close(fd);
      return -1;
    }
    ssize_t r = read(fd, buf + n, max - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      close(fd);
      return -1;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = 0;
  return (ssize_t)n;
}

/* The sh's `read -r VAR <FILE`: the first line (without its newline), "" when unreadable. */
static void first_line(const char *path, char *out, size_t size) {
  ssize_t n = slurp(path, out, size - 1);
  if (n < 0) n = 0;
  out[n] = 0;
  char *nl = strchr(out, '\n');
  if (nl) *nl = 0;
  if (strlen(out) != (size_t)n && !nl) out[0] = 0; /* a NUL byte: not a line dash would read alike */
}

static int digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* The sh's lxc_name_ok. */
static int name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 128) return 0;
  if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return 0;
  for (; *s; s++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("_.+-", *s))) return 0;
  return 1;
}

/* Field 22 (the start time) of a /proc/PID/stat line as the sh takes it: the words after its
 * last ") ", the twentieth; "" when there are fewer. */
static void start_time(const char *stat_line, char *out, size_t size) {
  out[0] = 0;
  const char *p = NULL;
  for (const char *q = stat_line; (q = strstr(q, ") ")); q++) p = q + 2;
  if (!p) return;
  for (int word = 0; *p; word++) {
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) return;
    size_t len = strcspn(p, " \t");
    if (word == 19) {
      snprintf(out, size, "%.*s", (int)len, p);
      return;
    }
    p += len;
  }
}

/* The sh's instance_ok: the record of NAME's instance (`CONTID SESSION PID START`: read splits
 * off three words and leaves the rest in the last) describes a live process in its session. */
static int instance_running(const char *state_dir, const char *name) {
  char path[PATH_MAX], rec[256], line[1024], live[64], ses[64];
  char *w[4] = {0};
  PATHF(path, "%s/lxc/%s", state_dir, name);
  if (access(path, F_OK) != 0) return 0;
  first_line(path, rec, sizeof rec);
  char *p = rec;
  for (int k = 0; k < 4; k++) {
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) return 0;
    w[k] = p;
    if (k < 3) {
      p += strcspn(p, " \t");
      if (*p) *p++ = 0;
    }
  }
  size_t end = strlen(w[3]);
  while (end && (w[3][end - 1] == ' ' || w[3][end - 1] == '\t')) w[3][--end] = 0;
  for (int k = 0; k < 4; k++)
    if (!digits(w[k])) return 0;
  PATHF(path, "/proc/%s/stat", w[2]);
  first_line(path, line, sizeof line);
  if (!line[0]) return 0;
  start_time(line, live, sizeof live);
  if (strcmp(live, w[3]) != 0) return 0;
  PATHF(path, "/proc/%s/sessionid", w[2]);
  first_line(path, ses, sizeof ses);
  return strcmp(ses, w[1]) == 0;
}

/* What the config says, as the sh's hooks_file notes it. */
struct config {
  int has_start, starts;
  char rootfs[PATH_MAX];
};

static void trim(char **s, char **end) {
  while (*s < *end && strchr(BLANK, **s)) (*s)++;
  while (*end > *s && strchr(BLANK, (*end)[-1])) (*end)--;
}

/* The sh's hooks_file on NAME's config, for the one shape this program handles: any include or
 * namespace setting (plain_config=0 or an include the sh cannot read) is the sh's. */
static void read_config(const char *file, const char *our_hook, struct config *cf) {
  static char text[1 << 20];
  ssize_t n = slurp(file, text, sizeof text - 1);
  if (n < 0 || (size_t)n != strlen(text)) to_sh(); /* unreadable, huge, or a NUL byte */
  char pattern[PATH_MAX + 64];
  PATHF(pattern, "lxc.hook.start-host/*/contid-lxc%s", our_hook);
  for (char *line = text; line < text + n;) {
    char *eol = strchr(line, '\n');
    if (!eol) eol = text + n;
    char *next = eol + 1;
    char *s = line, *end = eol;
    while (s < end && strchr(BLANK, *s)) s++;
    *eol = 0;
    int hook = !strncmp(s, "lxc.hook.start-host", 19), include = !strncmp(s, "lxc.include", 11),
        rootfs = !strncmp(s, "lxc.rootfs.path", 15), ns = !strncmp(s, "lxc.namespace.", 14);
    char *eq = strchr(s, '=');
    if (ns || (include && eq)) to_sh();
    if ((hook || rootfs) && eq) {
      char *key = s, *key_end = eq, *value = eq + 1, *value_end = end;
      trim(&key, &key_end);
      trim(&value, &value_end);
      char kv[PATH_MAX * 2];
      PATHF(kv, "%.*s/%.*s", (int)(key_end - key), key, (int)(value_end - value), value);
      if (!strcmp(kv, "lxc.hook.start-host/")) cf->has_start = 0, cf->starts = 0;
      else if (!fnmatch(pattern, kv, 0)) cf->has_start = 1, cf->starts++;
      else if (!strncmp(kv, "lxc.hook.start-host/", 20)) cf->starts++;
      else if (!strncmp(kv, "lxc.rootfs.path/", 16)) PATHF(cf->rootfs, "%.*s", (int)(value_end - value), value);
    }
    line = next;
  }
}

/* contid_fail for a spool entry that could not be written (the sh's words); returns under open. */
static void write_failed(const char *spool, const char *tail) {
  const char *policy = env("CONTID_FAIL_POLICY");
  if (policy && !strcmp(policy, "closed")) {
    fprintf(stderr, "contid-lxc: cannot write the spool entry in %s (CONTID_FAIL_POLICY=closed: not starting lxc-start)\n", spool);
    exit(1);
  }
  fprintf(stderr, "contid-lxc: cannot write the spool entry in %s; %s\n", spool, tail);
}

/* contid_spool_write without copied files: the whole entry in one write, a new name (0600). */
static int spool_write(const char *spool, const char *session, const char *op, const char *body) {
  char entry[PATH_MAX], head[64];
  int hl = snprintf(head, sizeof head, "contid-spool 1\nop=%s\n", op);
  if (snprintf(entry, sizeof entry, "%s/%s-%s-%d.entry", spool, session, op, (int)getpid()) >= (int)sizeof entry) return 0;
  struct iovec iov[3] = {{head, (size_t)hl}, {(char *)body, strlen(body)}, {(char *)"--- end\n", 8}};
  size_t want = iov[0].iov_len + iov[1].iov_len + iov[2].iov_len;
  int fd = open(entry, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  ssize_t w = fd < 0 ? -1 : writev(fd, iov, 3);
  if (fd < 0 || close(fd) != 0 || w != (ssize_t)want) {
    if (fd >= 0) unlink(entry);
    return 0;
  }
  return 1;
}

static int run(char *const argv[]) {
  pid_t pid = fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    execvp(argv[0], argv);
    fprintf(stderr, "contid-lxc: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 127;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv) {
  g_argv = argv;
  /* Its caller's argv[0] names the sh it hands to, her PATH the lxc-start it runs, her
   * environment the state directory and the login uid: started with privileges its caller lacks
   * (set-user-id, file capabilities, a secure-exec transition), it would give them away
   * (contid-runc-fast refuses alike). The sh can never be (the kernel ignores both on scripts). */
  if (getauxval(AT_SECURE)) {
    fputs("contid-lxc: refusing to run set-user-id or with file capabilities (its caller's environment names what it runs)\n", stderr);
    return 127;
  }
  const char *slash = strrchr(argv[0], '/');
  if (slash) {
    snprintf(g_dir, sizeof g_dir, "%.*s", (int)(slash - argv[0]), argv[0]);
  } else {
    ssize_t n = readlink("/proc/self/exe", g_dir, sizeof g_dir - 1);
    g_dir[n > 0 ? n : 0] = 0;
    char *s = strrchr(g_dir, '/');
    if (s) *s = 0;
  }

  /* [--state-dir DIR] start NAME, and nothing else: lxc-start options keep the sh's hook path. */
  int i = 1;
  const char *state_dir = env("CONTID_STATE_DIR");
  if (i < argc && !strcmp(argv[i], "--state-dir")) {
    if (i + 1 >= argc || !*argv[i + 1]) to_sh();
    state_dir = argv[i + 1];
    setenv("CONTID_STATE_DIR", state_dir, 1);
    i += 2;
  }
  if (!state_dir) state_dir = "/var/lib/contid";
  if (argc - i != 2 || strcmp(argv[i], "start") != 0) to_sh();
  const char *name = argv[i + 1];
  /* The hook's spelling is matched as a pattern: a state dir with pattern characters is the sh's. */
  if (!name_ok(name) || state_dir[0] != '/' || strpbrk(state_dir, "*?[]\\\n")) to_sh();

  /* A recorded instance that runs is the Node command's to refuse; the sh sends it there. */
  if (instance_running(state_dir, name)) to_sh();

  /* hooks_ok and own_start_ok: contid's hook for this registry, the only start-host hook. */
  char path[PATH_MAX], our_hook[PATH_MAX + 32], config[PATH_MAX];
  if (!strcmp(state_dir, "/var/lib/contid")) PATHF(our_hook, " hook");
  else PATHF(our_hook, " --state-dir %s hook", state_dir);
  PATHF(config, "/var/lib/lxc/%s/config", name);
  if (access(config, R_OK) != 0) to_sh();
  struct config cf = {0, 0, ""};
  read_config(config, our_hook, &cf);
  if (!cf.has_start || cf.starts != 1) to_sh();
  const char *rootfs = cf.rootfs;
  if (!strncmp(rootfs, "dir:", 4)) rootfs += 4;
  else if (rootfs[0] != '/') to_sh();
  if (rootfs[0] != '/') to_sh();
  struct stat st;
  PATHF(path, "%s/lxc", state_dir);
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) to_sh();
  PATHF(path, "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
  if (access(path, R_OK) != 0) to_sh();

  char spool[PATH_MAX];
  if (env("CONTID_SPOOL_DIR")) PATHF(spool, "%s", env("CONTID_SPOOL_DIR"));
  else PATHF(spool, "%s/spool", state_dir);
  if (stat(spool, &st) != 0 || !S_ISDIR(st.st_mode)) to_sh();

  /* The renewal (contid_renew): the caller's login uid kept, an unset one CONTID_LOGIN_UID or 0. */
  char old[32], auid[32], now[32];
  first_line("/proc/self/sessionid", old, sizeof old);
  first_line("/proc/self/loginuid", auid, sizeof auid);
  if (!digits(old) || !digits(auid)) to_sh();
  if (!strcmp(auid, "4294967295")) {
    const char *l = env("CONTID_LOGIN_UID");
    if (l && !digits(l)) to_sh();
    snprintf(auid, sizeof auid, "%s", l ? l : "0");
  }
  {
    char line[40];
    int len = snprintf(line, sizeof line, "%s\n", auid);
    int fd = open("/proc/self/loginuid", O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) to_sh();
    ssize_t w = write(fd, line, (size_t)len);
    if (close(fd) != 0 || w != len) to_sh();
  }
  first_line("/proc/self/sessionid", now, sizeof now);
  if (!digits(now) || !strcmp(now, old)) to_sh(); /* the sh tries once more and says why */

  /* The create entry (the sh's tag start create NAME ""): the commit point of the start. */
  static char body[4 * PATH_MAX];
  int pid = (int)getpid();
  PATHF(body, "subcommand=spawn\norchestrator=lxc\nname=%s\nsetns=\nid=%s\nwrapper-pid=%d\nsession=%s\nold-session=%s\nauid=%s\nreason=\n",
        name, name, pid, now, old, auid);
  setenv("CONTID_LXC_SESSION", now, 1);
  if (!spool_write(spool, now, "create", body)) {
    write_failed(spool, "running untagged");
    /* Under open the sh runs the start as any other (its hook records the init). */
    char *plain[] = {"lxc-start", "-n", (char *)name, NULL};
    execvp(plain[0], plain);
    fprintf(stderr, "contid-lxc: cannot run lxc-start: %s\n", strerror(errno));
    return 127;
  }

  /* start_recorded: lxc-start without the hook, its monitor's pid where only root writes. */
  char monitor_file[PATH_MAX];
  PATHF(monitor_file, "%s/lxc/.monitor-%s", state_dir, now);
  char *start[] = {"lxc-start", "-n", (char *)name, "-s", "lxc.hook.start-host=", "-p", monitor_file, NULL};
  int status = run(start);
  if (status != 0) return status;
  char monitor[64], monitor_session[64], kids[4096], init_stat[1024], init_session[64], init_start[64];
  const char *init = "";
  first_line(monitor_file, monitor, sizeof monitor);
  if (!digits(monitor)) strcpy(monitor, "0");
  PATHF(path, "/proc/%s/sessionid", monitor);
  first_line(path, monitor_session, sizeof monitor_session);
  kids[0] = 0;
  if (!strcmp(monitor_session, now)) {
    PATHF(path, "/proc/%s/task/%s/children", monitor, monitor);
    first_line(path, kids, sizeof kids);
  }
  char mine[PATH_MAX];
  struct stat ms, ks;
  PATHF(mine, "/proc/%s/ns/pid", monitor);
  int have_mine = stat(mine, &ms) == 0;
  for (char *save = NULL, *kid = strtok_r(kids, " \t\n", &save); kid; kid = strtok_r(NULL, " \t\n", &save)) {
    PATHF(path, "/proc/%s/ns/pid", kid);
    if (have_mine && stat(path, &ks) == 0 && ks.st_dev == ms.st_dev && ks.st_ino == ms.st_ino) continue;
    init = kid;
    break;
  }
  init_stat[0] = init_session[0] = 0;
  if (*init) {
    PATHF(path, "/proc/%s/stat", init);
    first_line(path, init_stat, sizeof init_stat);
    PATHF(path, "/proc/%s/sessionid", init);
    first_line(path, init_session, sizeof init_session);
  }
  if (!*init || !*init_stat || strcmp(init_session, now) != 0) {
    fprintf(stderr,
            "contid-lxc: warning: could not read the init of LXC container \"%s\" after it started (monitor %s); its start is bound, its init is not recorded\n",
            name, monitor);
    return 0;
  }
  start_time(init_stat, init_start, sizeof init_start);
  PATHF(body,
        "subcommand=start\norchestrator=lxc\nid=%s\nname=%s\nwrapper-pid=%d\nsession=%s\npid=%s\ninit-session=%s\ninit-start=%s\n"
        "config=%s\nrootfs=%s\n",
        name, name, pid, now, init, init_session, init_start, config, rootfs);
  if (!spool_write(spool, now, "init", body)) {
    /* What the hook's failure did under CONTID_FAIL_POLICY=closed (LXC aborted the start): stopped. */
    const char *policy = env("CONTID_FAIL_POLICY");
    if (policy && !strcmp(policy, "closed")) {
      char *stop[] = {"lxc-stop", "-n", (char *)name, "-k", NULL};
      int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
      int out = dup(1), err = dup(2);
      if (devnull >= 0) dup2(devnull, 1), dup2(devnull, 2);
      run(stop);
      if (out >= 0) dup2(out, 1);
      if (err >= 0) dup2(err, 2);
    }
    char tail[256];
    snprintf(tail, sizeof tail, "LXC container \"%s\"'s init is not recorded", name);
    write_failed(spool, tail);
  }
  return 0;
}
