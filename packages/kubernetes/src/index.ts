/** @contid/kubernetes: contid adapter for Kubernetes (node agent, pod identity, cluster-unique prefixes). */
export {};
