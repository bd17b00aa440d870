// Files the tests install as an administrator would (contid-runc.conf beside the shim, its
// directory) are written with Node's default modes, which the umask trims. The shims refuse a
// conf its group could write (7d189bc), so under a umask of 002 those installs would be
// refused: the tests run under root's usual 022 whatever the shell that started them had.
process.umask(0o022);
