import { parseContainerId } from '../src/container-id';
import { ContainerDirectory, NamedContainer, UnknownContainerError, isInSubtree, resolveContainerRef } from '../src/container-ref';

const id = (n: number): NamedContainer['contid'] => parseContainerId(String(n));

const rows: NamedContainer[] = [
  { contid: id(1000), name: 'web', runtimeId: 'aaaa1111', parent: null },
  { contid: id(2000), name: 'ci', runtimeId: 'bbbb2222', parent: null },
  // Created through ci's nested channel: a child named like the host's web, runtime id "<web's contid>0".
  { contid: id(2001), name: 'web', runtimeId: '10000', parent: id(2000) },
  { contid: id(2002), name: 'only-nested', runtimeId: 'cccc3333', parent: id(2000) },
  { contid: id(2003), name: 'p1', runtimeId: null, parent: id(2000) },
  { contid: id(2004), name: 'p2', runtimeId: null, parent: id(2000) },
  { contid: id(2005), name: 'dup', runtimeId: null, parent: id(2003) },
  { contid: id(2006), name: 'dup', runtimeId: null, parent: id(2004) },
  { contid: id(2007), name: '1000', runtimeId: null, parent: id(2000) },
  // Docker lets anyone in group docker name a container after the id prefix of another's.
  { contid: id(3000), name: 'alice-db', runtimeId: 'dddd4444eeee', parent: null },
  { contid: id(3001), name: 'dddd4444', runtimeId: 'ffff5555', parent: null },
  // LXC: the runtime id is the name
  { contid: id(4000), name: 'cafe', runtimeId: 'cafe', parent: null },
  { contid: id(4001), name: 'cafe2', runtimeId: 'cafe2', parent: null },
];

const dir: ContainerDirectory<NamedContainer> = {
  byContid: (id) => rows.find((c) => c.contid === id),
  byName: (name) => rows.filter((c) => c.name === name),
  byRuntimePrefix: (p) => rows.filter((c) => c.runtimeId?.startsWith(p)),
};
const ids = (ref: string, visible?: (c: NamedContainer) => boolean): NamedContainer['contid'][] => resolveContainerRef(dir, ref, visible).containers.map((c) => c.contid);

describe('resolveContainerRef: one resolver for show, end, exec --setns, search and the service', () => {
  it("finds the host's name before a nested container's of the same name", () => expect(ids('web')).toEqual([id(1000)]));
  it('a contid is that container, even when a child is named like it', () => expect(ids('1000')).toEqual([id(1000)]));
  it('a runtime-id prefix never matches a contid: "<contid>0" of a child does not answer for a ref of digits', () => {
    expect(() => ids('10000')).toThrow(UnknownContainerError);
  });
  it('a name unique below the host resolves', () => expect(ids('only-nested')).toEqual([id(2002)]));
  it('two namespaces at the same depth: an error listing both candidates with their parent chains', () => {
    expect(() => ids('dup')).toThrow('"dup" is ambiguous: 2005 (dup, in p1[2003] < ci[2000]); 2006 (dup, in p2[2004] < ci[2000]) — name one by its contid');
  });
  it('runtime-id prefixes of at least 4 characters', () => {
    expect(ids('aaaa')).toEqual([id(1000)]);
    expect(() => ids('aaa')).toThrow(UnknownContainerError);
  });
  it("a name that is also another container's runtime-id prefix is ambiguous, never the name's silently", () => {
    expect(() => ids('dddd4444')).toThrow('"dddd4444" is ambiguous: 3001 (dddd4444, on the host) by name; 3000 (alice-db, on the host) by runtime id — name one by its contid');
    expect(ids('dddd4444eeee')).toEqual([id(3000)]);
    expect(ids('alice-db')).toEqual([id(3000)]);
    // LXC's runtime id is its name: "cafe2" is no second meaning of "cafe"
    expect(ids('cafe')).toEqual([id(4000)]);
  });
  it("a nested caller sees only its subtree: the host's web is unknown to it, its own web resolves", () => {
    const inCi = (c: NamedContainer): boolean => isInSubtree(dir, c.contid, id(2000));
    expect(ids('web', inCi)).toEqual([id(2001)]);
    expect(() => ids('2000', () => false)).toThrow('unknown container "2000"');
    // the host's contid 1000 is not visible to it: its child named "1000" is named, never taken for it
    expect(() => ids('1000', inCi)).toThrow('no container with contid 1000 in what was read; "1000" is also the name of 2007 (1000, in ci[2000]) — name that one by its contid');
    expect(ids('2007', inCi)).toEqual([id(2007)]);
  });
  // Outside attack 10, N1: the victim's binding is not in the logs read (rotated out, a
  // collector's window); mallory named her container with the victim's contid.
  it('digits never silently resolve to a container named with them', () => {
    const logs: ContainerDirectory<NamedContainer> = { ...dir, byName: (name) => (name === '13967518424896' ? [{ contid: id(5001), name, runtimeId: 'abcd9999', parent: null }] : []), kind: 'the logs read' };
    expect(() => resolveContainerRef(logs, '13967518424896')).toThrow('no container with contid 13967518424896 in the logs read; "13967518424896" is also the name of 5001 (13967518424896, on the host) — name that one by its contid');
  });
});
