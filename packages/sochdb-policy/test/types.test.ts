import { expectTypeOf, it } from 'vitest';
import { Database, type KeyValueStore } from 'sochdb-policy';

it('Database.open is typed to return a Database usable as a KeyValueStore', () => {
  expectTypeOf(Database.open).returns.resolves.toEqualTypeOf<Database>();
  expectTypeOf<Database>().toMatchTypeOf<KeyValueStore>();
});
