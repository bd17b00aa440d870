import { rewriteAusearchArgs } from '../src/commands/ausearch-argv';

/** ausearch(8) spellings → contid's long options; yargs alone would read `-ts` as `-t -s`. */
describe('ausearch spellings on contid search/tail', () => {
  it.each([
    ['search -if a.log -i', 'search --input a.log --interpret'],
    ['search -r -m SYSCALL,EXECVE -k k1', 'search --raw --type SYSCALL,EXECVE --key k1'],
    ['search -ts today -te now', 'search --start today --end now'],
    ['search -ts 11/30/2026 01:00:00 -te recent', 'search --start 11/30/2026 01:00:00 --end recent'],
    ['search -ts=yesterday', 'search --start yesterday'],
    ['search -p 600 -pp 1 -ui 0 -ua 1000 -ue 0 -gi 0', 'search --pid 600 --ppid 1 --uid 0 --any-uid 1000 --euid 0 --gid 0'],
    ['search -sc execve -x /usr/bin/id -sv no', 'search --syscall execve --exe /usr/bin/id --success no'],
    ['search -f /etc/shadow -hn web1 -n node1 -e EACCES', 'search --filename /etc/shadow --host web1 --node node1 --exit EACCES'],
    ['search --file /etc/shadow --uid-all 0 --executable /bin/sh --message LOGIN', 'search --filename /etc/shadow --any-uid 0 --exe /bin/sh --type LOGIN'],
    ['search --just-one --format csv', 'search --just-one --format csv'],
    ['search --container web --interpret --input x', 'search --container web --interpret --input x'],
    ['--state-dir /s search -i', '--state-dir /s search --interpret'],
    ['tail -i -m EXECVE', 'tail --interpret --type EXECVE'],
    ['tail --file /var/log/audit/audit.log -f', 'tail --file /var/log/audit/audit.log -f'],
    ['search -c web -- -i', 'search --container web -- -i'.replace('--container', '-c')],
    ['exec -i x', 'exec -i x'],
    // report: aureport's shared spellings (-if input, -i interpret, -ts/-te); its report
    // selectors (-x executables, -f files) are not search's filters
    ['report -if a.log -i -ts today', 'report --input a.log --interpret --start today'],
    ['report -x -f', 'report -x -f'],
  ])('%s', (given, expected) => {
    expect(rewriteAusearchArgs(given.split(' '))).toEqual(expected.split(' '));
  });
});
