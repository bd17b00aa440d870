/** @contid/docker: contid adapter for Docker (runtime shim spool, dockerode enrichment). */
export * from './spool';
export * from './oci';
export * from './consumer';
export * from './docker-identity';
export * from './backfill';
export * from './agent';
export * from './daemon-json';
export * from './client';
export * from './health';
