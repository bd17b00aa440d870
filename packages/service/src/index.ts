/** @contid/service: contid serve, its protocol and thin client. */
export {};
