/** @contid/service: `contid serve` (the privileged tagging service), its protocol and thin client. */
export * from './protocol';
export * from './peer-credentials';
export * from './caller';
export * from './operations';
export * from './service';
export * from './client';
export * from './self-tag';
export * from './health';
export * from './channel-store';
export { DEFAULT_LIMITS, TokenBucket, type ServiceLimits } from './limits';
