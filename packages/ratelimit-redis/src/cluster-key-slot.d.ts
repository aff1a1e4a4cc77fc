// Types for the test-only devDependency cluster-key-slot (Redis Cluster's CRC16 slot of a key).
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string | Buffer): number;
}
