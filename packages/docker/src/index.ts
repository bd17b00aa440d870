/** @contid/docker: contid adapter for Docker (runtime shim, dockerode enrichment). */
export {};
