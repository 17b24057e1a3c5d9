import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * `mkdir -p` that always ends. Node 20's `mkdirSync(dir, { recursive: true })` loops forever when
 * a parent exists but mkdir inside it answers ENOENT — a procfs path (`/proc/nope`) or a dangling
 * symlink: it steps back to the parent on ENOENT, gets EEXIST, steps forward and retries. Here
 * each level is created once (non-recursive), so such a path fails with that ENOENT at once.
 * Throws the errno error of the level that could not be made; a level that exists but is not a
 * directory (a file, a dangling symlink) is ENOTDIR naming it.
 */
export function makeDirs(dir: string): void {
  const levels: string[] = [];
  for (let p = resolve(dir); ; p = dirname(p)) {
    levels.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of levels) {
    if (isDir(p)) continue;
    try {
      mkdirSync(p);
    } catch (err) {
      // EEXIST with no directory there (a file, a symlink to nothing); or a race that made one.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!isDir(p)) throw Object.assign(new Error(`ENOTDIR: exists and is not a directory, mkdir '${p}'`), { code: 'ENOTDIR', syscall: 'mkdir', path: p });
    }
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
