/*
 * contid-runc-fast: contid-runc's success path compiled, for hosts where every runtime call is
 * on a container's, an exec's or a probe's critical path (docs/kubernetes.md "The compiled
 * shim", docs/docker.md). The sh script contid-runc beside it stays the reference: this program
 * does exactly what it does on its ordinary path — the same runtime, the same renewed session,
 * the same requester notes read and appended to, the same spool entry bytes, the same argv
 * handed on — and hands every other case to it before anything changed (no session renewed,
 * nothing written): a settings file with more than plain assignments, a note it cannot read as
 * the sh would, a refused id, an unreadable bundle, a value spanning lines, no spool directory,
 * a failed renewal. A settings file someone else could write it refuses itself, in the sh's
 * words, before reading it (check_conf). test/docker/shim-argv.test.ts, shim-entry.test.ts, shim-requesters.test.ts
 * and shim-conf.test.ts run both.
 *
 * Built from source on the host (scripts/build-shim.sh: the distro's cc, static, so no dynamic
 * loader runs before the runtime): a shim is not a library's job, and dash's start-up and its
 * one-byte reads are most of what an exec through the sh costs.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/auxv.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* What tells this program at a runtime's path from any other (`contid docker front` reads a
 * runtime's file to know whether it is contid's: packages/docker/src/daemon-json.ts). */
__attribute__((used)) static const char contid_marker[] = "\n# contid-runc-fast: contid's compiled runtime shim\n";

static char **g_argv;
static char g_dir[PATH_MAX]; /* the directory argv[0] names, as the sh takes it: where it and contid-tag.sh are */

static void to_sh(void);

/* snprintf into a path buffer; a path too long for it is the sh's to handle, never truncated. */
#define PATHF(buf, ...) \
  do { \
    int len_ = snprintf(buf, sizeof buf, __VA_ARGS__); \
    if (len_ < 0 || (size_t)len_ >= sizeof buf) to_sh(); \
  } while (0)

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* The settings a contid-runc.conf may give (docs/podman.md): the sh sources the file, so only
 * lines it reads as these plain assignments are read here (read_conf); a key it sets is seen
 * here before the environment, as the sh's variable is. */
static const char *const conf_keys[] = {"CONTID_SPOOL_DIR", "CONTID_STATE_DIR", "CONTID_FAIL_POLICY", "CONTID_LOGIN_UID",
                                        "CONTID_REQUESTERS_DIR"};
#define CONF_KEYS (sizeof conf_keys / sizeof conf_keys[0])
static const char *conf_values[CONF_KEYS];

/* A setting as the sh's ${NAME:-…} sees it: the conf file's value, else the environment's; empty is unset. */
static const char *setting(const char *name) {
  for (size_t i = 0; i < CONF_KEYS; i++)
    if (conf_values[i] && !strcmp(name, conf_keys[i])) return *conf_values[i] ? conf_values[i] : NULL;
  return env(name);
}

/* S as the sh's contid_esc (contid-tag.sh) prints it, for a caller's path in a message: \t \n \r
 * \\ named and every other byte outside printable ASCII as \xHH (the ASCII of packages/core's
 * escapeText; bytes, not UTF-8). A new buffer, never freed: every caller exits after printing. */
static const char *esc(const char *s) {
  char *out = malloc(strlen(s) * 4 + 1), *o = out;
  if (!out) return "(out of memory)";
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '\t') o = stpcpy(o, "\\t");
    else if (*c == '\n') o = stpcpy(o, "\\n");
    else if (*c == '\r') o = stpcpy(o, "\\r");
    else if (*c == '\\') o = stpcpy(o, "\\\\");
    else if (*c < 0x20 || *c > 0x7e) o += sprintf(o, "\\x%02x", *c);
    else *o++ = (char)*c;
  }
  *o = 0;
  return out;
}

static const char *g_runtime; /* chosen by this program's name: the sh is told (its own name is contid-runc) */

/* The sh shim beside this program, with the same arguments: it redoes everything from the start. */
static void to_sh(void) {
  char sh[PATH_MAX];
  struct stat a, b;
  if ((size_t)snprintf(sh, sizeof sh, "%s/contid-runc", g_dir) >= sizeof sh) {
    fputs("contid-runc: its directory's name is too long\n", stderr);
    exit(127);
  }
  /* Installed under the sh's own name, it would run itself for ever. */
  if (stat(sh, &a) == 0 && stat("/proc/self/exe", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
    fprintf(stderr, "contid-runc: %s is the compiled shim, not the sh it needs beside it (reinstall contid)\n", esc(sh));
    exit(127);
  }
  if (g_runtime) setenv("CONTID_RUNTIME", g_runtime, 1);
  g_argv[0] = sh;
  execv(sh, g_argv);
  fprintf(stderr, "contid-runc: cannot run %s: %s (reinstall contid)\n", esc(sh), strerror(errno));
  exit(127);
}

static void to_runtime(const char *runtime) {
  g_argv[0] = (char *)runtime;
  execv(runtime, g_argv);
  int err = errno;
  fprintf(stderr, "contid-runc: cannot run %s: %s\n", esc(runtime), strerror(err));
  exit(127);
}

static int readable(const char *path) { return access(path, R_OK) == 0; }

static int regular(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A whole file (at most max bytes) into a new buffer; NULL if it cannot be read or is larger. */
static char *slurp(const char *path, size_t max, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 16384, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (n == cap) {
      if (cap >= max) break;
      cap *= 2;
      buf = realloc(buf, cap);
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    if (r == 0) {
      close(fd);
      *len = n;
      if (n == cap) buf = realloc(buf, n + 1);
      buf[n] = 0; /* a NUL after the bytes, so that lines can be taken as strings */
      return buf;
    }
    n += (size_t)r;
  }
  close(fd);
  free(buf);
  return NULL;
}

/* The sh's `. "$conf"` for a file dash reads as nothing but comments, blank lines and
 * assignments of the keys above to values of bytes no shell expands or splits (no quote, `$`,
 * backquote, backslash, `~`, `;`, `#` …), each perhaps after blanks and before blanks and a
 * comment: any other line, a NUL byte, a file of 16 KiB or more or not a regular file is the
 * sh's to source. An assignment to a variable the environment has changes what the runtime
 * inherits, as the sh's does. */
static void read_conf(const char *path) {
  if (!regular(path)) to_sh();
  size_t len;
  char *text = slurp(path, 16384, &len);
  if (!text || memchr(text, 0, len)) to_sh();
  for (char *l = text; l < text + len;) {
    char *nl = memchr(l, '\n', (size_t)(text + len - l));
    char *next = nl ? nl + 1 : text + len;
    if (nl) *nl = 0;
    l += strspn(l, " \t");
    if (*l && *l != '#') {
      char *eq = strchr(l, '=');
      size_t k = 0;
      while (eq && k < CONF_KEYS && (strlen(conf_keys[k]) != (size_t)(eq - l) || memcmp(l, conf_keys[k], (size_t)(eq - l)))) k++;
      if (!eq || k == CONF_KEYS) to_sh();
      char *end = eq + 1 + strspn(eq + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:,+@%=-");
      const char *rest = end + strspn(end, " \t");
      /* a word after the value would be a command; a `#` that starts no word is part of it */
      if (*rest && !(*rest == '#' && rest > end)) to_sh();
      *end = 0;
      conf_values[k] = eq + 1;
      if (getenv(conf_keys[k]) && setenv(conf_keys[k], eq + 1, 1) != 0) to_sh();
    }
    l = next;
  }
  /* text stays: conf_values point into it */
}

/* The sh's conf_refuse, word for word; the paths in FMT's arguments already esc()'d. */
static void conf_refuse(const char *conf, const char *fmt, ...) {
  char why[4 * PATH_MAX + 128]; /* an esc()'d path is up to four times its length */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  fprintf(stderr, "contid-runc: refusing %s: %s (it runs as the shim's code: it and its directory must be root's, writable by no one else)\n", esc(conf), why);
  exit(127);
}

/* The sh's checks before it sources the conf (as sudo's of its sudoers), in its order: not a
 * symbolic link; its directory taken by its real path; the file and that directory owned by root
 * or the user this runs as, neither writable by its group or others; every directory above, up
 * to /, the same, but a sticky one may be writable by others (they cannot move what is not
 * theirs). Then no one else can change the file, nor turn any name on its real path elsewhere,
 * so reading it by that path (g_conf_real) after these stats reads what they saw. */
static char g_conf_real[PATH_MAX];
static void check_named(const char *conf, const char *dir);
static void check_conf(const char *conf) {
  char dir[PATH_MAX], real[PATH_MAX];
  const char *slash = strrchr(conf, '/');
  PATHF(dir, "%.*s", slash == conf ? 1 : (int)(slash - conf), conf);
  struct stat st, ds;
  if (lstat(conf, &st) == 0 && S_ISLNK(st.st_mode)) conf_refuse(conf, "a symbolic link");
  if (!realpath(dir, real)) conf_refuse(conf, "cannot stat it or its directory");
  PATHF(g_conf_real, "%s/%s", strcmp(real, "/") ? real : "", slash + 1);
  if (lstat(g_conf_real, &st) != 0 || stat(real, &ds) != 0) conf_refuse(conf, "cannot stat it or its directory");
  uid_t me = geteuid();
  if (st.st_uid != 0 && st.st_uid != me) conf_refuse(conf, "owned by uid %u", (unsigned)st.st_uid);
  if (st.st_mode & 022) conf_refuse(conf, "writable by its group or others (mode %o)", (unsigned)(st.st_mode & 07777));
  if (ds.st_uid != 0 && ds.st_uid != me) conf_refuse(conf, "its directory %s is owned by uid %u", esc(real), (unsigned)ds.st_uid);
  if (ds.st_mode & 022) conf_refuse(conf, "its directory %s is writable by its group or others (mode %o)", esc(real), (unsigned)(ds.st_mode & 07777));
  while (strcmp(real, "/")) {
    char *up = strrchr(real, '/');
    up[up == real ? 1 : 0] = 0;
    if (stat(real, &ds) != 0) conf_refuse(conf, "cannot stat it or its directory");
    if (ds.st_uid != 0 && ds.st_uid != me) conf_refuse(conf, "its directory's ancestor %s is owned by uid %u", esc(real), (unsigned)ds.st_uid);
    if ((ds.st_mode & 022) && !(ds.st_mode & S_ISVTX))
      conf_refuse(conf, "its directory's ancestor %s is writable by its group or others and not sticky (mode %o)", esc(real), (unsigned)(ds.st_mode & 07777));
  }
  check_named(conf, dir);
}

static int conf_mine(uid_t uid) { return uid == 0 || uid == geteuid(); }

/* The sh's conf_links: each symbolic link on the path as named, readable or not, root's or this
 * user's (whoever owns a link in a sticky directory may turn it elsewhere), and the conf itself
 * not a link. Returns the length of the first name on the path that is not there (0: none), as
 * the sh's conf_gone: a missing conf is not looked for again (her link could be there just after). */
static size_t check_links(const char *conf) {
  char pre[PATH_MAX];
  size_t n = strlen(conf);
  if (n >= sizeof pre) to_sh();
  for (size_t i = 1; i <= n; i++) {
    if (i < n && conf[i] != '/') continue;
    memcpy(pre, conf, i);
    pre[i] = 0;
    struct stat st;
    if (lstat(pre, &st) != 0) return i;
    if (S_ISLNK(st.st_mode)) {
      if (!conf_mine(st.st_uid)) conf_refuse(conf, "the symbolic link %s on its path is owned by uid %u", esc(pre), (unsigned)st.st_uid);
      if (i == n) conf_refuse(conf, "a symbolic link");
    }
  }
  return 0;
}

/* The sh's conf_named: each prefix of DIR, the directories on the path as named (a link or not),
 * root's or this user's: else her directory on it (a `..` after it, or turned into her link
 * between the walk and the read) would choose which of root's files is read, or that none is. */
static void check_named(const char *conf, const char *dir) {
  char pre[PATH_MAX];
  size_t n = strlen(dir);
  if (n >= sizeof pre) to_sh();
  for (size_t i = 1; i <= n; i++) {
    if (i < n && dir[i] != '/') continue;
    memcpy(pre, dir, i);
    pre[i] = 0;
    struct stat st;
    if (lstat(pre, &st) != 0) conf_refuse(conf, "cannot stat it or its directory");
    if (!conf_mine(st.st_uid)) conf_refuse(conf, "the directory %s on its path is owned by uid %u", esc(pre), (unsigned)st.st_uid);
  }
}

/* The sh's conf_absent: a CONTID_RUNC_CONF not there (its first LEN bytes name the first missing
 * name on its path) leaves the defaults only if no one else could have made it so: the directory
 * it is missing from (by its real path) root's or this user's and writable by no one else, a
 * sticky one too; each above it so, or sticky; the directories on its path as named root's or
 * this user's. */
static void check_absent(const char *conf, size_t len) {
  char dir[PATH_MAX], real[PATH_MAX];
  const char *slash = memrchr(conf, '/', len);
  if (!slash) PATHF(dir, ".");
  else PATHF(dir, "%.*s", slash == conf ? 1 : (int)(slash - conf), conf);
  if (!realpath(dir, real)) conf_refuse(conf, "cannot stat it or its directory");
  struct stat ds;
  if (stat(real, &ds) != 0) conf_refuse(conf, "cannot stat it or its directory");
  if (!conf_mine(ds.st_uid)) conf_refuse(conf, "missing from the directory %s that is owned by uid %u", esc(real), (unsigned)ds.st_uid);
  if (ds.st_mode & 022) conf_refuse(conf, "missing from the directory %s that is writable by its group or others (mode %o)", esc(real), (unsigned)(ds.st_mode & 07777));
  while (strcmp(real, "/")) {
    char *up = strrchr(real, '/');
    up[up == real ? 1 : 0] = 0;
    if (stat(real, &ds) != 0) conf_refuse(conf, "cannot stat it or its directory");
    if (!conf_mine(ds.st_uid)) conf_refuse(conf, "missing below the directory %s that is owned by uid %u", esc(real), (unsigned)ds.st_uid);
    if ((ds.st_mode & 022) && !(ds.st_mode & S_ISVTX))
      conf_refuse(conf, "missing below the directory %s that is writable by its group or others and not sticky (mode %o)", esc(real), (unsigned)(ds.st_mode & 07777));
  }
  check_named(conf, dir);
}

/* /proc/self/sessionid or loginuid: digits only (they end without a newline), else "". */
static void read_id(const char *path, char *out, size_t size) {
  out[0] = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t r = read(fd, out, size - 1);
  close(fd);
  if (r <= 0) {
    out[0] = 0;
    return;
  }
  out[r] = 0;
  if (out[r - 1] == '\n') out[--r] = 0;
  for (ssize_t i = 0; i < r; i++)
    if (out[i] < '0' || out[i] > '9') out[0] = 0;
}

/* The caller's command line as the sh's `od -An -v -tx1 -N4096 | tr -d ' \n'` writes it: the
 * first 4096 bytes in lower-case hex; "" when unreadable. Podman's conmon names the container
 * only there, and it may be gone by the time the spool is drained. */
static void caller_cmdline_hex(char *out, size_t size) {
  unsigned char raw[4096];
  size_t n = 0;
  char path[64];
  out[0] = 0;
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)getppid());
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  for (ssize_t r; n < sizeof raw && (r = read(fd, raw + n, sizeof raw - n)) > 0;) n += (size_t)r;
  close(fd);
  if (2 * n + 1 > size) return;
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) out[2 * i] = hex[raw[i] >> 4], out[2 * i + 1] = hex[raw[i] & 15];
  out[2 * n] = 0;
}

static int digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* A full 64-hex Docker id: the only names a requester note has. */
static int full_id(const char *s) {
  size_t n = strlen(s);
  if (n != 64) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* The sh's runtime choice, test for test (CONTID_RUNTIME, else by name, else runc, crun); the
 * name is this program's without contid- and -fast (contid-crun-fast: crun). */
static const char *choose_runtime(const char *self_path) {
  const char *r = env("CONTID_RUNTIME");
  if (!r) r = getenv("CONTID_RUNC");
  if (r && *r) return r;
  static char found[PATH_MAX];
  const char *self = strrchr(self_path, '/');
  self = self ? self + 1 : self_path;
  static char byname[NAME_MAX + 1];
  snprintf(byname, sizeof byname, "%s", strncmp(self, "contid-", 7) == 0 ? self + 7 : self);
  size_t bl = strlen(byname);
  if (bl > 5 && !strcmp(byname + bl - 5, "-fast")) byname[bl - 5] = 0;
  const char *names[] = {byname, "runc", "crun"};
  const char *dirs[] = {"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"};
  for (size_t c = 0; c < 3; c++)
    for (size_t d = 0; d < 6; d++) {
      snprintf(found, sizeof found, "%s/%s", dirs[d], names[c]);
      if (access(found, X_OK) == 0 && strcmp(found, self_path) != 0) return g_runtime = found;
    }
  return "";
}

/* dash's $PWD: the inherited one when it is absolute and names the working directory, else getcwd. */
static int working_dir(char *out, size_t size) {
  const char *p = getenv("PWD");
  struct stat a, b;
  if (p && p[0] == '/' && stat(p, &a) == 0 && stat(".", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
      strlen(p) < size) {
    strcpy(out, p);
    return 1;
  }
  return getcwd(out, size) != NULL;
}

/* A note's value as the sh keeps it; longer ones are the sh's (no note is near this). */
#define FIELD 4096

/* The fields of a requester note (`contid docker front`, docs/docker.md "Who asked"). */
struct requester {
  char uid[FIELD], auid[FIELD], session[FIELD], pid[FIELD], exe[FIELD];
  int used;  /* a create took the note (used=) */
  int other; /* a changed= line by someone other than the starter read so far */
  char *changes;
  size_t changes_len, changes_cap;
};

static void set_field(char *dst, const char *value) {
  size_t n = strlen(value);
  if (n >= FIELD) to_sh();
  memcpy(dst, value, n + 1);
}

/* ${l%%,*} = want: the text before the first comma (all of it when there is none). */
static int first_is(const char *l, const char *want) {
  const char *c = strchr(l, ',');
  size_t n = c ? (size_t)(c - l) : strlen(l);
  return n == strlen(want) && !memcmp(l, want, n);
}

/* ${l#*,}: the text after the first comma (all of it when there is none). */
static const char *after_comma(const char *l) {
  const char *c = strchr(l, ',');
  return c ? c + 1 : l;
}

/* The sh's note_read, line for line: 1 when the note was read, 0 when it is not readable. A
 * note the sh's read would take otherwise (not a regular file, a NUL byte) is the sh's. */
static int note_read(const char *path, struct requester *r) {
  if (!readable(path)) return 0;
  if (!regular(path)) to_sh();
  size_t len;
  char *text = slurp(path, 1 << 20, &len);
  if (!text || memchr(text, 0, len)) to_sh();
  for (char *l = text; l < text + len;) {
    char *nl = memchr(l, '\n', (size_t)(text + len - l));
    char *next = nl ? nl + 1 : text + len;
    if (nl) *nl = 0;
    if (!strncmp(l, "uid=", 4)) set_field(r->uid, l + 4);
    else if (!strncmp(l, "auid=", 5)) set_field(r->auid, l + 5);
    else if (!strncmp(l, "session=", 8)) set_field(r->session, l + 8);
    else if (!strncmp(l, "pid=", 4)) set_field(r->pid, l + 4);
    else if (!strncmp(l, "exe=", 4)) set_field(r->exe, l + 4);
    else if (!strncmp(l, "used=", 5)) r->used = 1;
    else if (!strncmp(l, "changed=", 8)) {
      /* changed=WHAT,UID,AUID,…: someone other than the starter contests the run. */
      size_t n = strlen(l + 8), need = r->changes_len + n + 2;
      if (need > r->changes_cap) {
        r->changes_cap = need * 2;
        r->changes = realloc(r->changes, r->changes_cap);
        if (!r->changes) to_sh();
      }
      if (r->changes_len) r->changes[r->changes_len++] = ' ';
      memcpy(r->changes + r->changes_len, l + 8, n);
      r->changes_len += n;
      const char *t = after_comma(l);
      if (!(first_is(t, r->uid) && first_is(after_comma(t), r->auid))) r->other = 1;
    }
    l = next;
  }
  free(text);
  return 1;
}

/* The sh's `{ IFS= read -r c_uid && IFS= read -r c_auid; } <NOTE`: 1 when both lines are whole. */
static int first_lines(const char *path, char *one, char *two) {
  if (!regular(path)) to_sh();
  size_t len;
  char *text = slurp(path, 1 << 20, &len);
  if (!text || memchr(text, 0, len)) to_sh();
  char *a = memchr(text, '\n', len);
  char *b = a ? memchr(a + 1, '\n', (size_t)(text + len - a - 1)) : NULL;
  if (!b) {
    free(text);
    return 0;
  }
  *a = *b = 0;
  set_field(one, text); /* FIELD + 8 bytes each: a longer line is the sh's */
  set_field(two, a + 1);
  free(text);
  return 1;
}

static char *line_of(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *out;
  int n = vasprintf(&out, fmt, ap);
  va_end(ap);
  if (n < 0) to_sh();
  return out;
}

/* The sh's loop over the spool's create entries, waiting (*-create-*.entry) or claimed
 * (.claimed-*-create-*.entry): whether one exists. */
static int create_waits(const char *spool) {
  DIR *d = opendir(spool);
  if (!d) return 0;
  int found = 0;
  for (struct dirent *e; !found && (e = readdir(d));) {
    const char *n = e->d_name;
    if ((n[0] != '.' && !fnmatch("*-create-*.entry", n, 0)) || !fnmatch(".claimed-*-create-*.entry", n, 0)) {
      char p[PATH_MAX];
      struct stat st;
      found = (size_t)snprintf(p, sizeof p, "%s/%s", spool, n) < sizeof p && stat(p, &st) == 0;
    }
  }
  closedir(d);
  return found;
}

/* The digits a text starts with, into out (the sh's ${l%%[!0-9]*}). */
static void leading_digits(const char *l, size_t max, char *out, size_t size) {
  size_t n = 0;
  while (n < max && l[n] >= '0' && l[n] <= '9') n++;
  if (n >= size) to_sh();
  memcpy(out, l, n);
  out[n] = 0;
}

/* The init's pid from the runtime's state under BASE/ID (runc state.json, crun status), as the
 * sh's delete reads it: runc's first 4096 bytes when busybox is there, else line by line. */
static void init_pid_of(const char *base, const char *id, char *out, size_t size) {
  static const char *const files[] = {"state.json", "status"};
  static const char init_key[] = "\"init_process_pid\":", pid_key[] = "\"pid\":";
  for (int i = 0; i < 2; i++) {
    char path[PATH_MAX];
    PATHF(path, "%s/%s/%s", base, id, files[i]);
    if (!readable(path)) continue;
    if (!regular(path)) to_sh();
    size_t len;
    char *text = slurp(path, 1 << 24, &len);
    if (!text || memchr(text, 0, len)) to_sh();
    if (i == 0 && access("/bin/busybox", X_OK) == 0) {
      size_t head = len < 4096 ? len : 4096;
      const char *k = memmem(text, head, init_key, sizeof init_key - 1);
      if (k) {
        k += sizeof init_key - 1;
        leading_digits(k, (size_t)(text + head - k), out, size);
        if (*out) {
          free(text);
          return;
        }
      }
    }
    for (char *l = text; l < text + len;) {
      char *nl = memchr(l, '\n', (size_t)(text + len - l));
      char *next = nl ? nl + 1 : text + len;
      if (nl) *nl = 0;
      const char *k = strstr(l, init_key);
      if (k) k += sizeof init_key - 1;
      else if ((k = strstr(l, pid_key))) {
        k += sizeof pid_key - 1;
        while (*k == ' ') k++;
      }
      if (k) {
        leading_digits(k, strlen(k), out, size);
        break;
      }
      l = next;
    }
    free(text);
    return;
  }
}

/* contid_fail for a failed spool write after the session was renewed (the sh's words). */
static void write_failed(const char *spool, const char *sub, const char *id, const char *json_log) {
  char msg[PATH_MAX + 256];
  const char *policy = setting("CONTID_FAIL_POLICY");
  snprintf(msg, sizeof msg, "cannot write the spool entry in %s", spool);
  if (policy && strcmp(policy, "closed") == 0) {
    char line[sizeof msg + 128];
    snprintf(line, sizeof line, "contid-runc: %s (CONTID_FAIL_POLICY=closed: not starting %s)", msg, sub);
    fprintf(stderr, "%s\n", line);
    if (json_log) {
      FILE *f = fopen(json_log, "a");
      if (f) {
        char when[32];
        time_t now = time(NULL);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        fputs("{\"level\":\"error\",\"msg\":\"", f);
        for (const char *c = line; *c; c++) {
          if (*c == '\\' || *c == '"') fputc('\\', f);
          fputc(*c, f);
        }
        fprintf(f, "\",\"time\":\"%s\"}\n", when);
        fclose(f);
      }
    }
    exit(1);
  }
  fprintf(stderr, "contid-runc: %s; %s runs untagged\n", msg, id);
}

int main(int argc, char **argv) {
  g_argv = argv;
  /* Its caller's environment and argv[0] pick the runtime, the sh it hands to, the spool and the
   * login uid: started with privileges its caller lacks (set-user-id, file capabilities, a
   * secure-exec transition), it would give them away. The sh can never be (the kernel ignores
   * both on scripts); installed so, this program refuses before reading anything. */
  if (getauxval(AT_SECURE)) {
    fputs("contid-runc: refusing to run set-user-id or with file capabilities (its caller's environment names what it runs)\n", stderr);
    return 127;
  }
  const char *self_path = argv[0];
  const char *slash = strrchr(self_path, '/');
  if (slash) {
    snprintf(g_dir, sizeof g_dir, "%.*s", (int)(slash - self_path), self_path);
  } else {
    /* Found on PATH: the directory of the program itself. */
    ssize_t n = readlink("/proc/self/exe", g_dir, sizeof g_dir - 1);
    g_dir[n > 0 ? n : 0] = 0;
    char *s = strrchr(g_dir, '/');
    if (s) *s = 0;
  }

  const char *runtime = choose_runtime(self_path);
  if (!*runtime || access(runtime, X_OK) != 0) {
    fputs("contid-runc: no OCI runtime found (runc, crun; set CONTID_RUNTIME)\n", stderr);
    return 127;
  }

  /* The sh's one pattern match on " $* ": no create/run/exec/delete word, nothing to tag. */
  size_t total = 2;
  for (int i = 1; i < argc; i++) total += strlen(argv[i]) + 1;
  char *joined = malloc(total + 1), *j = joined;
  *j++ = ' ';
  for (int i = 1; i < argc; i++) j += sprintf(j, "%s ", argv[i]);
  if (argc == 1) *j++ = ' ';
  *j = 0;
  if (!strstr(joined, " create ") && !strstr(joined, " run ") && !strstr(joined, " exec ") && !strstr(joined, " delete "))
    to_runtime(runtime);
  free(joined);

  /* contid-tag.sh must be there (the sh refuses without it); the settings file the sh sources
   * (podman's conmon gives the runtime an environment of its own: docs/podman.md). */
  char path[PATH_MAX];
  PATHF(path, "%s/contid-tag.sh", g_dir);
  if (!readable(path) && !readable("/usr/local/libexec/contid/contid-tag.sh")) to_sh();
  const char *conf = env("CONTID_RUNC_CONF");
  if (!conf) {
    PATHF(path, "%s/contid-runc.conf", g_dir);
    conf = readable(path) ? path : "/etc/contid/contid-runc.conf";
  }
  /* dash's `.` looks a name without a slash up on PATH, not where `[ -r ]` looked: the sh's,
   * readable here or not (it may be on PATH only). */
  if (!strchr(conf, '/')) to_sh();
  size_t gone = check_links(conf);
  if (!gone && readable(conf)) {
    check_conf(conf);
    read_conf(g_conf_real);
  } else if (env("CONTID_RUNC_CONF")) {
    check_absent(conf, gone ? gone : strlen(conf));
  }

  /* The global options, then the subcommand (the sh's loop, case for case). */
  const char *sub = NULL, *log = "", *logfmt = "", *root = "", **want = NULL, *ignored;
  int n = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    n++;
    if (want) {
      *want = a;
      want = NULL;
      continue;
    }
    if (!strcmp(a, "--log") || !strcmp(a, "-log")) want = &log;
    else if (!strcmp(a, "--log-format") || !strcmp(a, "-log-format")) want = &logfmt;
    else if (!strncmp(a, "--log=", 6) || !strncmp(a, "-log=", 5)) log = strchr(a, '=') + 1;
    else if (!strncmp(a, "--log-format=", 13) || !strncmp(a, "-log-format=", 12)) logfmt = strchr(a, '=') + 1;
    else if (!strcmp(a, "--root") || !strcmp(a, "-root")) want = &root;
    else if (!strncmp(a, "--root=", 7) || !strncmp(a, "-root=", 6)) root = strchr(a, '=') + 1;
    else if (!strcmp(a, "--criu") || !strcmp(a, "-criu") || !strcmp(a, "--rootless") || !strcmp(a, "-rootless") ||
             !strcmp(a, "--log-level") || !strcmp(a, "-log-level") || !strcmp(a, "--cgroup-manager") ||
             !strcmp(a, "-cgroup-manager"))
      want = &ignored;
    else if (a[0] == '-') continue;
    else {
      sub = a;
      break;
    }
  }
  const char *op;
  if (sub && (!strcmp(sub, "create") || !strcmp(sub, "run"))) op = "create";
  else if (sub && !strcmp(sub, "exec")) op = "setns";
  else if (sub && !strcmp(sub, "delete")) op = "end";
  else to_runtime(runtime);
  const char *json_log = strcmp(logfmt, "json") == 0 ? log : NULL;

  /* The subcommand's options and the container id (the sh's operands). */
  const char *bundle = "", *pidfile = "", *process = "", *id = "";
  want = NULL;
  for (int i = n + 1; i < argc; i++) {
    const char *a = argv[i];
    if (want) {
      *want = a;
      want = NULL;
      continue;
    }
    static const char *const valued[] = {"--console-socket", "--pidfd-socket", "--preserve-fds", "--cwd", "--env", "--user",
                                         "--additional-gids", "--process-label", "--apparmor", "--cap", "--cgroup", "--config",
                                         "--regex", "-console-socket", "-pidfd-socket", "-preserve-fds", "-cwd", "-env", "-user",
                                         "-additional-gids", "-process-label", "-apparmor", "-cap", "-cgroup", "-config", "-e",
                                         "-u", "-g", "-c", NULL};
    int is_valued = 0;
    for (const char *const *v = valued; *v; v++) is_valued |= !strcmp(a, *v);
    if (!strcmp(a, "--bundle") || !strcmp(a, "-bundle") || !strcmp(a, "-b")) want = &bundle;
    else if (!strncmp(a, "--bundle=", 9) || !strncmp(a, "-bundle=", 8) || !strncmp(a, "-b=", 3)) bundle = strchr(a, '=') + 1;
    else if (!strcmp(a, "--pid-file") || !strcmp(a, "-pid-file")) want = &pidfile;
    else if (!strncmp(a, "--pid-file=", 11) || !strncmp(a, "-pid-file=", 10)) pidfile = strchr(a, '=') + 1;
    else if (!strcmp(a, "--process") || !strcmp(a, "-process") || !strcmp(a, "-p")) want = &process;
    else if (!strncmp(a, "--process=", 10) || !strncmp(a, "-process=", 9) || !strncmp(a, "-p=", 3)) process = strchr(a, '=') + 1;
    else if (is_valued) want = &ignored;
    else if (!strcmp(a, "-f")) { if (!strcmp(op, "create")) want = &ignored; }
    else if (!strncmp(a, "--", 2) || (a[0] == '-' && strchr(a, '='))) continue;
    else if (!strncmp(a, "-b", 2)) bundle = a + 2;
    else if (!strncmp(a, "-p", 2)) process = a + 2;
    else if (a[0] == '-') continue;
    else {
      id = a;
      break;
    }
  }
  char cwd[PATH_MAX];
  if (!*bundle) {
    if (!working_dir(cwd, sizeof cwd)) to_sh();
    bundle = cwd;
  }

  /* Everything the sh would refuse, fail on or do otherwise goes to it, before any change. */
  if (!*id || !strcmp(id, ".") || !strcmp(id, "..")) to_sh();
  for (const char *c = id; *c; c++)
    if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("_+.-", *c))) to_sh();
  if (strchr(bundle, '\n') || strchr(pidfile, '\n') || strchr(process, '\n')) to_sh();
  char config[PATH_MAX];
  PATHF(config, "%s/config.json", bundle);
  int create = !strcmp(op, "create"), end = !strcmp(op, "end");
  if (create && !(readable(config) && regular(config))) to_sh();
  const char *state = setting("CONTID_STATE_DIR");
  char spool[PATH_MAX];
  if (setting("CONTID_SPOOL_DIR")) PATHF(spool, "%s", setting("CONTID_SPOOL_DIR"));
  else PATHF(spool, "%s/spool", state ? state : "/var/lib/contid");
  struct stat st;
  if (stat(spool, &st) != 0 || !S_ISDIR(st.st_mode) || strlen(spool) > PATH_MAX - 64) to_sh();

  /* The requester noted by `contid docker front` (the sh's note_read and what follows it), and
   * the line the sh appends to the container's note: opened here, written after the renewal. */
  static struct requester rq;
  enum { NOBODY, DOCKERD, CONTESTED } by = NOBODY;
  static const char *const by_name[] = {"", "dockerd", "contested"};
  int append_fd = -1;
  char *append_line = NULL;
  char init_pid[32] = "";
  if (end) {
    /* A create still waiting in the spool: the end carries the init pid from the runtime's state. */
    char base[PATH_MAX];
    const char *rt_name = strrchr(runtime, '/');
    if (*root) PATHF(base, "%s", root);
    else PATHF(base, "/run/%s", rt_name ? rt_name + 1 : runtime);
    if (create_waits(spool)) init_pid_of(base, id, init_pid, sizeof init_pid);
  } else {
    const char *req_dir = setting("CONTID_REQUESTERS_DIR");
    if (!req_dir) req_dir = "/run/contid/requesters";
    char cnote[PATH_MAX], enote[PATH_MAX], req[PATH_MAX];
    PATHF(cnote, "%s/c-%s", req_dir, id);
    const char *base = strrchr(pidfile, '/');
    PATHF(req, "%s", base ? base + 1 : pidfile);
    size_t rl = strlen(req);
    if (rl >= 4 && !strcmp(req + rl - 4, ".pid")) req[rl - 4] = 0;
    PATHF(enote, "%s/e-%s", req_dir, req);
    if (create) {
      if (full_id(id) && note_read(cnote, &rq)) {
        if (rq.used) by = DOCKERD;
        else append_line = line_of("used=%d\n", getpid());
      }
    } else if (full_id(req) && note_read(enote, &rq)) {
      /* A client's exec changes the container for dockerd's later runs, unless by its starter. */
      int readable_lines = 0;
      char c_uid[FIELD + 8], c_auid[FIELD + 8];
      if (full_id(id) && readable(cnote)) readable_lines = first_lines(cnote, c_uid, c_auid);
      if (readable_lines) {
        char want_uid[FIELD + 8], want_auid[FIELD + 8];
        snprintf(want_uid, sizeof want_uid, "uid=%s", rq.uid);
        snprintf(want_auid, sizeof want_auid, "auid=%s", rq.auid);
        if (strcmp(c_uid, want_uid) || strcmp(c_auid, want_auid))
          append_line = line_of("changed=exec,%s,%s,%s,%s,%s\n", rq.uid, rq.auid, rq.session, rq.pid, rq.exe);
      }
    } else if (full_id(id) && note_read(cnote, &rq)) {
      by = DOCKERD;
    }
    if (!*rq.uid) by = NOBODY;
    if (by == DOCKERD && rq.other) by = CONTESTED;
    if (by != CONTESTED) rq.changes_len = 0;
    if (!strcmp(rq.auid, "4294967295")) strcpy(rq.auid, rq.uid);
    if (!digits(rq.auid)) rq.auid[0] = 0;
    if (append_line) {
      append_fd = open(cnote, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
      if (append_fd < 0) to_sh(); /* the sh's `>>` would say why */
    }
  }

  /* The copied file and then a newline: config.json as cat copies it; process.json as the sh's
   * read loop does (each line and a newline, then the unfinished last line, often empty, and a
   * newline), which is the same bytes. A delete copies nothing. */
  const char *label = create ? "config.json" : "process.json";
  const char *copied = create ? config : process;
  char *text = NULL;
  size_t text_len = 0;
  int section = !end && (create || readable(process));
  if (section) {
    if (!regular(copied)) to_sh();
    text = slurp(copied, 1 << 24, &text_len);
    if (!text || (!create && memchr(text, 0, text_len))) to_sh(); /* dash's read and NUL bytes: its own */
  }

  /* The renewal (the sh's renew): the caller's login uid kept, an unset one CONTID_LOGIN_UID or 0;
   * the requester's auid instead when there is one and the run is not contested. */
  char old[32], auid[FIELD], now[32];
  read_id("/proc/self/sessionid", old, sizeof old);
  read_id("/proc/self/loginuid", auid, sizeof auid);
  if (!*old || !*auid) to_sh();
  if (!strcmp(auid, "4294967295")) {
    const char *l = setting("CONTID_LOGIN_UID");
    if (l && !digits(l)) to_sh();
    snprintf(auid, sizeof auid, "%s", l ? l : "0");
  }
  if (!end && by != CONTESTED && *rq.auid) snprintf(auid, sizeof auid, "%s", rq.auid);
  {
    char line[FIELD + 2];
    int len = snprintf(line, sizeof line, "%s\n", auid);
    int fd = open("/proc/self/loginuid", O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) to_sh();
    ssize_t w = write(fd, line, (size_t)len);
    if (close(fd) != 0 || w != len) to_sh();
  }
  read_id("/proc/self/sessionid", now, sizeof now);
  if (!*now || !strcmp(now, old)) to_sh(); /* the sh tries once more and says why */
  if (append_fd >= 0) {
    /* As the sh's echo: a failed write is said on stderr and the run goes on. */
    size_t al = strlen(append_line);
    if (write(append_fd, append_line, al) != (ssize_t)al) fprintf(stderr, "contid-runc: cannot append to the note of %s: %s\n", id, strerror(errno));
    close(append_fd);
  }

  /* The entry, in one write: its last line `--- end` is the commit point either way. */
  static char caller[2 * 4096 + 1];
  if (create) caller_cmdline_hex(caller, sizeof caller);
  char *head;
  int pid = getpid();
  int hl = end ? asprintf(&head, "contid-spool 1\nop=end\nsubcommand=%s\nid=%s\nwrapper-pid=%d\nsession=%s\nold-session=%s\ninit-pid=%s\n",
                          sub, id, pid, now, old, init_pid)
               : asprintf(&head,
                          "contid-spool 1\nop=%s\nsubcommand=%s\nid=%s\nbundle=%s\npidfile=%s\nprocess=%s\nwrapper-pid=%d\n"
                          "session=%s\nold-session=%s\nauid=%s\nreason=\nrequester-uid=%s\nrequester-auid=%s\nrequester-session=%s\n"
                          "requester-pid=%s\nrequester-exe=%s\nrequester-by=%s\nrequester-changes=%.*s\ncaller-cmdline=%s\n",
                          op, sub, id, bundle, pidfile, process, pid, now, old, auid, rq.uid, rq.auid, rq.session, rq.pid,
                          rq.exe, by_name[by], (int)rq.changes_len, rq.changes ? rq.changes : "", caller);
  if (hl < 0) {
    /* Out of memory after the renewal: the entry cannot be written, as a failed write. */
    if (end) fprintf(stderr, "contid-runc: cannot write the spool entry in %s; the end of %s is not recorded\n", spool, id);
    else write_failed(spool, sub, id, json_log);
    to_runtime(runtime);
  }
  char label_line[64];
  snprintf(label_line, sizeof label_line, "--- %s\n", label);
  const char *tail = "\n--- end\n";
  struct iovec iov[4] = {{head, (size_t)hl}, {label_line, strlen(label_line)}, {text, text_len}, {(char *)tail, strlen(tail)}};
  int iovcnt = 4;
  if (!section) {
    iov[1] = (struct iovec){(char *)"--- end\n", 8};
    iovcnt = 2;
  }
  char entry[PATH_MAX];
  PATHF(entry, "%s/%s-%s-%d.entry", spool, now, op, pid);
  size_t want_bytes = 0;
  for (int i = 0; i < iovcnt; i++) want_bytes += iov[i].iov_len;
  int fd = open(entry, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600); /* a new name: never through a planted file or link */
  ssize_t w = fd < 0 ? -1 : writev(fd, iov, iovcnt);
  if (fd < 0 || close(fd) != 0 || w != (ssize_t)want_bytes) {
    if (fd >= 0) unlink(entry);
    /* A delete is never refused (the sh's words for it). */
    if (end) fprintf(stderr, "contid-runc: cannot write the spool entry in %s; the end of %s is not recorded\n", spool, id);
    else write_failed(spool, sub, id, json_log);
  }
  to_runtime(runtime);
  return 127;
}
