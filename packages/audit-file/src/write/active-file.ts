import { closeSync } from 'node:fs';

/**
 * The active file's descriptor, lent to readers: a rotation or close retires it, and it is
 * closed only when the last reader hands it back, so a reader never sees the number reused.
 */
export class ActiveFile {
  readonly fd: number;
  #refs = 0;
  #retired = false;

  constructor(fd: number) {
    this.fd = fd;
  }

  borrow(): () => void {
    this.#refs++;
    let returned = false;
    return () => {
      if (returned) return;
      returned = true;
      this.#refs--;
      if (this.#retired && this.#refs === 0) closeSync(this.fd);
    };
  }

  retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    if (this.#refs === 0) closeSync(this.fd);
  }
}
