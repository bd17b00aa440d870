import type { Adapter } from '@contid/oci';
import { podmanIdentifier } from './podman-identity';

/** Podman through contid-runc: identity only (ends come from the shim's own delete). */
export const podmanAdapter: Adapter = { name: 'podman', identify: podmanIdentifier() };
