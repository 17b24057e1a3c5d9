import type { Command } from 'commander';
import { KvgateError, ErrorCode } from '../../shared/errors.js';

// Placeholder registration: the owning module replaces this file with the real command.
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('(not built yet)')
    .action(() => {
      throw new KvgateError(ErrorCode.Internal, '`kvgate serve` is not built yet');
    });
}
