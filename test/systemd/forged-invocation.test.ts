import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CONTID_MAIN, tempStateDir, uniqueName } from '../helpers/cli';
import { GuestServe, Machine, bootMachine, ensureTree, startGuestServe, waitFor } from './nspawn-host';

/**
 * A confined unit's service user against the invocation its bind line names (outside attack 17,
 * F4 and F5). systemd merges the unit's own environment after its own, so `INVOCATION_ID=` in an
 * EnvironmentFile= the service user writes reaches the `ExecStartPost=+… bind` line's
 * `$INVOCATION_ID`. Before: a made-up id became the container's runtime id, contid serve asked
 * PID 1 about it at once, saw another id and ended the container "found stopped" while the unit
 * ran (its real end never recorded); another running unit's id got the line quarantined and the
 * unit ran unattributed with doctor saying "untagged workloads: none recorded". What holds: the
 * invocation bound is the one PID 1 runs (its cgroup's trusted.invocation_id); a line naming
 * another is refused and its unit recorded untagged under its real id, visible to doctor, ended
 * when PID 1 ends it. Real systemd (PID 1 in systemd-nspawn); the service user writes its file.
 */
const GUEST_STATE = '/var/lib/contid-test/state';
const GUEST_CONTID = [process.execPath, CONTID_MAIN, '--state-dir', GUEST_STATE];
const USER = 'contid-inv';
const FORGED = '0123456789abcdef0123456789abcdef';

let machine: Machine;
let serve: GuestServe;
let state: ReturnType<typeof tempStateDir>;
let hostState: string;

interface Row {
  contid: string;
  name: string;
  runtimeId: string | null;
  state: string;
  session: number | null;
}

function guest(args: string[]): string {
  const r = machine.exec(args);
  if (r.status !== 0) throw new Error(`${args.join(' ')} in the guest: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}
const asService = (script: string): string => guest(['runuser', '-u', USER, '--', 'sh', '-c', script]);
const unitProperty = (unit: string, property: string): string => guest(['systemctl', 'show', '-p', property, '--value', unit]);
const writeUnit = (unit: string, lines: string[]): void => {
  guest(['sh', '-c', `cat > /etc/systemd/system/${unit} <<'EOF'\n[Unit]\nStartLimitIntervalSec=0\n[Service]\n${lines.join('\n')}\nEOF`]);
  guest(['env', `CONTID_STATE_DIR=${GUEST_STATE}`, ...GUEST_CONTID.slice(0, 2), 'install', 'systemd', unit]);
  guest(['systemctl', 'daemon-reload']);
};
const rows = (unit: string): Row[] =>
  guest([...GUEST_CONTID, 'ps', '--all', '--json'])
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Row)
    .filter((r) => r.name === unit);
const doctor = (): string => machine.exec(['env', `CONTID_STATE_DIR=${GUEST_STATE}`, ...GUEST_CONTID.slice(0, 2), 'doctor']).stdout;
const sessionOf = (unit: string): number => Number(guest(['cat', `/proc/${unitProperty(unit, 'MainPID')}/sessionid`]));
/** serve bound or refused the entries; PID 1's answers to its look-ups (a few ms) are in too. */
const settle = async (): Promise<{ name: string; reason: string }[]> => {
  const failed = await serve.settled();
  await new Promise((r) => setTimeout(r, 1_500));
  return failed;
};

beforeAll(async () => {
  ensureTree();
  state = tempStateDir('systemd-inv');
  mkdirSync(state.dir, { recursive: true });
  hostState = join(state.dir, 'state');
  state.env.CONTID_STATE_DIR = hostState;
  machine = await bootMachine(uniqueName('contid-sdinv').slice(0, 60), state.dir);
  serve = await startGuestServe(machine, GUEST_CONTID.slice(0, 2), GUEST_STATE, hostState);
  guest(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
}, 600_000);

afterAll(async () => {
  serve?.stop();
  await machine?.stop();
  state?.cleanup();
}, 60_000);

describe("a confined unit's service user sets INVOCATION_ID= in its own EnvironmentFile (real systemd)", () => {
  const env = (unit: string): string => `/var/tmp/${unit}.env`;
  const confined = (unit: string): void => {
    guest(['install', '-o', USER, '-m', '0600', '/dev/null', env(unit)]);
    writeUnit(unit, [`User=${USER}`, `EnvironmentFile=-${env(unit)}`, 'ExecStart=/bin/sleep 600']);
  };

  test('F4, a made-up id: the running unit is never ended as "found stopped"; it is recorded untagged under the id PID 1 runs, and ended at its real stop', async () => {
    const unit = 'contid-inv-forged.service';
    confined(unit);
    asService(`echo INVOCATION_ID=${FORGED} > ${env(unit)}`);
    guest(['systemctl', 'start', unit]);
    const real = unitProperty(unit, 'InvocationID');
    expect(real).not.toBe(FORGED);
    await settle();
    expect(unitProperty(unit, 'ActiveState')).toBe('active');
    const now = rows(unit);
    // Nothing of the forged id, nothing ended while the unit runs.
    expect(now.filter((r) => r.runtimeId === FORGED)).toEqual([]);
    expect(now.filter((r) => r.state === 'ended')).toEqual([]);
    expect(now.map((r) => [r.runtimeId, r.state, r.session])).toEqual([[real, 'untagged', sessionOf(unit)]]);
    expect(doctor()).toMatch(new RegExp(`untagged workloads.*${unit.replace(/\./g, '\\.')}`));
    guest(['systemctl', 'stop', unit]);
    await waitFor(() => rows(unit).find((r) => r.runtimeId === real)?.state === 'ended' || undefined, 10_000, () => `the unit's real end was never recorded: ${JSON.stringify(rows(unit))} ${serve.log()}`);
    expect(serve.log()).toContain(`end ${real} -> contid`);
  });

  test("F5, another running unit's id: that unit's container is untouched, this one is recorded untagged (doctor names it), not left unattributed", async () => {
    const other = 'contid-inv-other.service';
    const unit = 'contid-inv-borrow.service';
    writeUnit(other, ['ExecStart=/bin/sleep 600']);
    confined(unit);
    guest(['systemctl', 'start', other]);
    const otherId = unitProperty(other, 'InvocationID');
    await settle();
    const before = rows(other).filter((r) => r.state === 'running');
    expect(before.map((r) => r.runtimeId)).toEqual([otherId]);
    asService(`echo INVOCATION_ID=${otherId} > ${env(unit)}`);
    guest(['systemctl', 'start', unit]);
    const real = unitProperty(unit, 'InvocationID');
    await settle();
    expect(rows(other).filter((r) => r.state === 'running')).toEqual(before);
    expect(rows(unit).map((r) => [r.runtimeId, r.state, r.session])).toEqual([[real, 'untagged', sessionOf(unit)]]);
    expect(doctor()).toMatch(new RegExp(`untagged workloads.*${unit.replace(/\./g, '\\.')}`));
    guest(['systemctl', 'stop', unit, other]);
    await waitFor(() => rows(unit).every((r) => r.state === 'ended') || undefined, 10_000, () => `no end: ${JSON.stringify(rows(unit))}`);
  });

  test('control: the same unit with its file empty is bound to the invocation PID 1 runs, as before', async () => {
    const unit = 'contid-inv-plain.service';
    confined(unit);
    guest(['systemctl', 'start', unit]);
    const real = unitProperty(unit, 'InvocationID');
    await settle();
    expect(rows(unit).map((r) => [r.runtimeId, r.state, r.session])).toEqual([[real, 'running', sessionOf(unit)]]);
    guest(['systemctl', 'stop', unit]);
    await waitFor(() => rows(unit).every((r) => r.state === 'ended') || undefined, 10_000, () => `no end: ${JSON.stringify(rows(unit))}`);
  });
});

/**
 * The same, with serve unable to read the cgroup's trusted.invocation_id (no CAP_SYS_ADMIN: the
 * kernel answers ENODATA), so the line's id cannot be checked at bind time. The end follower
 * still never ends a container whose bound process runs in its unit because PID 1 names another
 * invocation: it follows the one PID 1 runs and ends the container with it.
 */
describe('the same without the cgroup xattr (serve without CAP_SYS_ADMIN)', () => {
  beforeAll(async () => {
    serve.stop();
    serve = await startGuestServe(machine, GUEST_CONTID.slice(0, 2), GUEST_STATE, hostState, ['CapabilityBoundingSet=~CAP_SYS_ADMIN']);
  }, 120_000);

  const env = (unit: string): string => `/var/tmp/${unit}.env`;
  const confined = (unit: string): void => {
    guest(['install', '-o', USER, '-m', '0600', '/dev/null', env(unit)]);
    writeUnit(unit, [`User=${USER}`, `EnvironmentFile=-${env(unit)}`, 'ExecStart=/bin/sleep 600']);
  };

  test('F4, a made-up id: the container stays running while the unit runs, and is ended at its real stop with systemd\'s reason', async () => {
    const unit = 'contid-inv-nocap.service';
    confined(unit);
    asService(`echo INVOCATION_ID=${FORGED.replace(/^0/, '1')} > ${env(unit)}`);
    guest(['systemctl', 'start', unit]);
    const real = unitProperty(unit, 'InvocationID');
    await settle();
    expect(unitProperty(unit, 'ActiveState')).toBe('active');
    // `contid ps` (rows) asks systemd too: another invocation active is no end of its own.
    expect(rows(unit).map((r) => [r.state, r.session])).toEqual([['running', sessionOf(unit)]]);
    expect(serve.log()).toContain(`systemd: ${unit} runs invocation ${real}, not ${FORGED.replace(/^0/, '1')} as its line said`);
    expect(serve.log()).not.toContain(`end ${FORGED.replace(/^0/, '1')}`);
    guest(['systemctl', 'stop', unit]);
    await waitFor(() => rows(unit).every((r) => r.state === 'ended') || undefined, 10_000, () => `the unit's real end was never recorded: ${JSON.stringify(rows(unit))} ${serve.log()}`);
    // Ended by PID 1's end of the invocation it runs, not found gone.
    expect(serve.log()).toContain(`end ${real} -> contid`);
  });

  test("F5, another running unit's id: recorded untagged (no runtime id), doctor names it", async () => {
    const other = 'contid-inv-other2.service';
    const unit = 'contid-inv-borrow2.service';
    writeUnit(other, ['ExecStart=/bin/sleep 600']);
    confined(unit);
    guest(['systemctl', 'start', other]);
    const otherId = unitProperty(other, 'InvocationID');
    await settle();
    asService(`echo INVOCATION_ID=${otherId} > ${env(unit)}`);
    guest(['systemctl', 'start', unit]);
    await settle();
    expect(rows(other).map((r) => [r.runtimeId, r.state])).toEqual([[otherId, 'running']]);
    expect(rows(unit).map((r) => [r.runtimeId, r.state, r.session])).toEqual([[null, 'untagged', sessionOf(unit)]]);
    expect(doctor()).toMatch(new RegExp(`untagged workloads.*${unit.replace(/\./g, '\\.')}`));
    guest(['systemctl', 'stop', unit, other]);
  });
});

