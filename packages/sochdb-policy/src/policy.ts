// Mirrors the seed's `sochdb.policy` module: `import { denyAll } from 'sochdb-policy/policy'`.
export * from '@sochdb-policy/helpers';
