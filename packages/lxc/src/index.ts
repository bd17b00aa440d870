/** @contid/lxc: contid adapter for LXC (hooks, start/attach wrappers). */
export {};
