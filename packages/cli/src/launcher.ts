/** The first lines of the sh launcher `contid install self` puts on PATH (uninstall looks for it). */
export const LAUNCHER_MARKER = '# installed by contid install self';

/** Where `contid install self` copies contid-lxc, contid-lxc-fast and the other sh tools. */
export const LIBEXEC = '/usr/local/libexec/contid';

/** The compiled `contid lxc start` (scripts/build-lxc-fast.sh), installed only where it was built. */
export const LXC_FAST = 'contid-lxc-fast';

/**
 * The commands the launcher starts without NODE_EXTRA_CA_CERTS. Node reads and parses the file
 * that variable names at every start, before any script runs (the first thing main.js could
 * do is too late), and only its TLS clients use what it read. These commands read logs, the
 * index, the registry and contid's keys, and write their answer: nothing they load can make a
 * TLS connection (no tls, https or http2 module, no network client package), and the programs
 * they start are contid itself again and the audit and LXC tools (auditctl, lxc-info),
 * none of them a Node program — packages/cli/test/launcher.test.ts walks their imports to hold
 * that. Every other command keeps the variable: the agents and `contid docker` talk to API
 * servers that may need it, and `contid exec` passes the environment on to the user's program.
 */
export const WITHOUT_EXTRA_CA_CERTS = ['search', 'report', 'index'] as const;

/**
 * The launcher's text: `contid lxc start|attach` go to contid-lxc (no Node on the hot path; it
 * hands back to Node through CONTID_CLI when the registry must decide) — a start through
 * contid-lxc-fast when it was installed, which hands what it does not record itself to
 * contid-lxc — everything else to Node, with NODE_EXTRA_CA_CERTS left out for the commands of
 * WITHOUT_EXTRA_CA_CERTS when the command is the first word (anything else keeps it).
 * `node` and `main` hold no quote or space (the installer refuses those).
 */
export function launcherScript(node: string, main: string, fast: boolean, libexec = LIBEXEC): string {
  const cli = `${node} ${main}`;
  return [
    '#!/bin/sh',
    LAUNCHER_MARKER,
    `case $1 in ${WITHOUT_EXTRA_CA_CERTS.join(' | ')}) unset NODE_EXTRA_CA_CERTS ;; esac`,
    `case $1/$2 in lxc/start | lxc/attach) shift && CONTID_CLI='${cli}' && export CONTID_CLI ;; *) exec ${cli} "$@" ;; esac`,
    // Attach goes to the sh directly: the compiled program would only hand it over.
    `[ "$1" = start ] && exec ${libexec}/${fast ? LXC_FAST : 'contid-lxc'} "$@"`,
    `exec ${libexec}/contid-lxc "$@"`,
    '',
  ].join('\n');
}
