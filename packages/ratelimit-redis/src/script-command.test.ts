import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { scriptCommand } from './script-command.js';

/** Set by ioredis only when the client has showFriendlyErrorStack (a private field in its types). */
const errorStackOf = (command: object) => (command as { errorStack?: Error }).errorStack;

describe('scriptCommand', () => {
  // Never connects: building a Command needs only the client's options.
  const plain = new Redis({ lazyConnect: true });
  const prefixed = new Redis({ lazyConnect: true, keyPrefix: 'app:', showFriendlyErrorStack: true });
  afterAll(() => {
    plain.disconnect();
    prefixed.disconnect();
  });

  it('sends the arguments as given, with numbers as text, and flattens nothing', () => {
    const args = ['sha', 2, 'k1', 'k2', '', '5', '60000'];
    const command = scriptCommand(plain, 'evalsha', args);
    expect(command.name).toBe('evalsha');
    expect(command.args).toBe(args); // the array itself: no copy made by flat()
    expect([...command.args]).toEqual(['sha', '2', 'k1', 'k2', '', '5', '60000']);
    expect(errorStackOf(command)).toBeUndefined();
  });

  it("applies the client's keyPrefix to the keys only, as client.evalsha would", () => {
    const args = ['script', 2, 'k1', 'k2', '', '5', '60000'];
    const mine = scriptCommand(prefixed, 'eval', [...args]);
    const theirs = prefixed as unknown as { eval: (...a: unknown[]) => unknown };
    // What ioredis itself builds for the same call, captured instead of sent.
    let built: { args: unknown[] } | undefined;
    const send = prefixed.sendCommand;
    prefixed.sendCommand = ((command: { args: unknown[] }) => {
      built = command;
      return Promise.resolve(null);
    }) as never;
    void theirs.eval(...args);
    prefixed.sendCommand = send;
    expect([...mine.args]).toEqual(['script', '2', 'app:k1', 'app:k2', '', '5', '60000']);
    expect([...mine.args]).toEqual(built!.args);
    expect(errorStackOf(mine)).toBeInstanceOf(Error); // showFriendlyErrorStack
  });
});
