// Error messages read like the engine's: one wording for `got …` across packages.
export { describeValue as describe } from '@sochdb-policy/core';
