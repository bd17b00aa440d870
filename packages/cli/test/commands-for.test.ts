import { COMMAND_LOADERS, commandsFor } from '../src/commands';

const names = (args: string[]): string[] => commandsFor(args).map((c) => String(c.command).split(' ')[0]);
const ALL = Object.keys(COMMAND_LOADERS).length;

/** A run loads only the command it names; --help, no command or an unknown one get them all. */
describe('commandsFor: which command modules a run loads', () => {
  it('each entry loads the command of its own name', () => {
    for (const [name, load] of Object.entries(COMMAND_LOADERS)) expect(load().map((c) => String(c.command).split(' ')[0])).toEqual([name]);
  });

  it.each([
    [['search', '-c', 'web'], ['search']],
    [['--state-dir', '/s', 'ps', '--all'], ['ps']],
    [['--state-dir=/s', '--json', 'show', 'web'], ['show']],
    [['--write-path', 'procfs', 'exec', '--', 'true'], ['exec']],
    [['tail', '--format', 'compact'], ['tail']],
    [['uninstall', 'docker'], ['uninstall']],
  ])('%j loads %j', (args, expected) => {
    expect(names(args)).toEqual(expected);
  });

  it.each([[[]], [['--help']], [['serch']], [['--state-dir', 'search']], [['constructor']], [['--', 'search']]])('%j loads every command', (args) => {
    expect(commandsFor(args)).toHaveLength(ALL);
  });
});
