import type Dockerode from 'dockerode';
import type { OciSpec, SpoolEntry } from '@contid/oci';
import { dockerIdentifier } from '../src/docker-identity';

/** A Dockerode stand-in that records every container asked for and knows none. */
function recordingDocker(): { docker: Dockerode; asked: string[] } {
  const asked: string[] = [];
  const docker = {
    getContainer: (id: string) => {
      asked.push(id);
      return { inspect: () => Promise.reject(new Error('no such container')) };
    },
    getEvents: () => Promise.reject(new Error('no events')),
  } as unknown as Dockerode;
  return { docker, asked };
}

const entry = { id: 'c'.repeat(64), time: Date.now() } as SpoolEntry;
const noRegistry = { registry: {} } as Parameters<ReturnType<typeof dockerIdentifier>>[2];

describe('dockerIdentifier', () => {
  it('does not ask dockerd about a container another manager marked as its own (Podman)', async () => {
    const { docker, asked } = recordingDocker();
    const podmanSpec: OciSpec = { annotations: { 'io.container.manager': 'libpod' } };
    await expect(dockerIdentifier(docker, 100)(podmanSpec, entry, noRegistry)).resolves.toBeNull();
    expect(asked).toEqual([]);
  });

  it('asks dockerd about an unmarked config (Docker writes no manager annotation)', async () => {
    const { docker, asked } = recordingDocker();
    await expect(dockerIdentifier(docker, 100)({}, entry, noRegistry)).resolves.toBeNull();
    expect(asked).toEqual([entry.id]);
  });
});
