import type { AttributedContainer, Attributor } from './attributor';
import type { AuditRecord } from './record';

interface Steady {
  from: number;
  container: AttributedContainer | null;
}

/**
 * The attributor's answers that depend on a session alone, looked up once per session: for
 * search's byte paths, which attribute tens of thousands of ranges or events of a few sessions
 * after every binding is learned (the attributor no longer changes while they run). Anything
 * that depends on the position or time goes to the attributor itself.
 */
export class SessionMemo {
  private readonly epochs = new Map<string, Map<number, { start: number; stamp?: string } | null>>();
  private readonly steady = new Map<string, Map<number, Steady | null>>();

  constructor(private readonly attributor: Attributor) {}

  /** attributor.lastEpoch(session, node). */
  lastEpoch(session: number, node: string | null): { start: number; stamp?: string } | null {
    const perNode = this.perNode(this.epochs, node);
    let last = perNode.get(session);
    if (last === undefined) perNode.set(session, (last = this.attributor.lastEpoch(session, node)));
    return last;
  }

  /**
   * attributor.attributeSession(session, at, head.node, head.timeMs, head.serialText), the same
   * answer; the head's serial text is read only when the attributor is asked.
   */
  attributeSession(session: number | null, at: number, head: Pick<AuditRecord, 'node' | 'timeMs' | 'serialText'>): AttributedContainer | null {
    if (session === null) return null;
    const node = head.node;
    const perNode = this.perNode(this.steady, node);
    let steady = perNode.get(session);
    if (steady === undefined) {
      const s = this.attributor.steadyContid(session, node);
      steady = s && { from: s.from, container: s.contid === null ? null : (this.attributor.container(s.contid) ?? null) };
      perNode.set(session, steady);
    }
    if (steady !== null && at >= steady.from) return steady.container;
    return this.attributor.attributeSession(session, at, node, head.timeMs, head.serialText);
  }

  private perNode<V>(maps: Map<string, Map<number, V>>, node: string | null): Map<number, V> {
    let m = maps.get(node ?? '');
    if (!m) maps.set(node ?? '', (m = new Map()));
    return m;
  }
}
