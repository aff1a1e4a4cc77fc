import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { describe } from '../bytes.js';
import type { PolicyHandler } from '../hooks/handler.js';
import { parseDocumentText } from './document.js';

/** What {@link watchPolicyFile} needs of an engine: `PolicyEngine.load`. */
export interface LoadsPolicies {
  load(document: unknown, options: { name?: string; handlers?: Readonly<Record<string, PolicyHandler>>; file?: string }): unknown;
}

export interface WatchPolicyOptions {
  /** The name the document is loaded under (a reload replaces it). @default the resolved path */
  name?: string;
  /** Code handlers that rules with effect `handler` name. @default {} */
  handlers?: Readonly<Record<string, PolicyHandler>>;
  /** Quiet time after the last change before reloading: a burst of writes is one reload. @default 50 */
  debounceMs?: number;
  /** Called after each successful reload (not the first load). */
  onReload?: (info: { name: string; file: string; reloads: number }) => void;
  /** Called when a changed file cannot be loaded; the last good rules stay in force. */
  onError?: (error: unknown) => void;
  /** Keep the process alive while watching, as `fs.watch` does. @default true */
  persistent?: boolean;
}

/** A running watch; `close()` stops it. */
export interface PolicyWatcher {
  readonly file: string;
  readonly name: string;
  /** Successful reloads since the first load. */
  readonly reloads: number;
  /** Why the latest reload attempt failed, or undefined when the file on disk is in force. */
  readonly lastReloadError: unknown;
  /** Reads and loads the file now; resolves to whether it was loaded. */
  reload(): Promise<boolean>;
  close(): void;
}

/**
 * Loads a policy document from `file` and reloads it whenever the file changes. The first
 * load must succeed (it throws like `load`). After that a change is loaded only when it is
 * valid: a half-written or invalid file leaves the last good rules in force and sets
 * `lastReloadError` (reported to `onError`) until a valid version arrives. Each reload is one
 * atomic swap, so an operation in flight finishes with the rules it started with.
 *
 * The folder is watched, not the file, so editors and deploy tools that replace the file by
 * renaming a new one over it are seen too.
 */
export async function watchPolicyFile(policy: LoadsPolicies, file: string, options: WatchPolicyOptions = {}): Promise<PolicyWatcher> {
  if (policy === null || typeof policy !== 'object' || typeof policy.load !== 'function') {
    throw new TypeError(`policy must be a PolicyEngine, got ${describe(policy)}`);
  }
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`file must be a non-empty path, got ${describe(file)}`);
  if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
  const { debounceMs = 50, handlers, onReload, onError, persistent = true } = options;
  if (typeof debounceMs !== 'number' || !Number.isInteger(debounceMs) || debounceMs < 0 || debounceMs > 60_000) {
    throw new RangeError(`options.debounceMs must be an integer from 0 to 60000, got ${describe(debounceMs)}`);
  }
  for (const [key, fn] of [['onReload', onReload], ['onError', onError]] as const) {
    if (fn !== undefined && typeof fn !== 'function') throw new TypeError(`options.${key} must be a function, got ${describe(fn)}`);
  }
  const path = resolve(file);
  const name = options.name ?? path;

  let loadedText = await readFile(path, 'utf8');
  policy.load(parseDocumentText(loadedText, { file: path }), { name, handlers, file: path });

  let reloads = 0;
  let lastReloadError: unknown = undefined;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<boolean> | undefined;
  let again = false;

  const attempt = async (): Promise<boolean> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      // Gone for a moment (a rename in progress), or unreadable: keep what is in force.
      lastReloadError = error;
      onError?.(error);
      return false;
    }
    if (closed) return false;
    if (text === loadedText && lastReloadError === undefined) return true;
    try {
      policy.load(parseDocumentText(text, { file: path }), { name, handlers, file: path });
    } catch (error) {
      lastReloadError = error;
      onError?.(error);
      return false;
    }
    const changed = text !== loadedText;
    loadedText = text;
    lastReloadError = undefined;
    if (changed) {
      reloads++;
      onReload?.({ name, file: path, reloads });
    }
    return true;
  };

  // One reload at a time; a change during a reload runs one more afterwards.
  const reload = (): Promise<boolean> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = attempt().finally(() => {
      running = undefined;
      if (again && !closed) {
        again = false;
        void reload();
      }
    });
    return running;
  };

  const target = basename(path);
  const watcher: FSWatcher = watch(dirname(path), { persistent }, (_event, changed) => {
    if (closed || (changed !== null && changed !== target)) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void reload();
    }, debounceMs);
    if (!persistent) timer.unref();
  });
  watcher.on('error', (error) => {
    lastReloadError = error;
    onError?.(error);
  });

  return {
    file: path,
    name,
    get reloads() {
      return reloads;
    },
    get lastReloadError() {
      return lastReloadError;
    },
    reload,
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      watcher.close();
    },
  };
}
