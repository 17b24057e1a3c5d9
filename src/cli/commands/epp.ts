import type { Command } from 'commander';
import { KvgateError, ErrorCode } from '../../shared/errors.js';

// Placeholder registration: the owning module replaces this file with the real command.
export function registerEpp(program: Command): void {
  program
    .command('epp')
    .description('(not built yet)')
    .action(() => {
      throw new KvgateError(ErrorCode.Internal, '`kvgate epp` is not built yet');
    });
}
