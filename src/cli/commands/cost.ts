import type { Command } from 'commander';
import { KvgateError, ErrorCode } from '../../shared/errors.js';

// Placeholder registration: the owning module replaces this file with the real command.
export function registerCost(program: Command): void {
  program
    .command('cost')
    .description('(not built yet)')
    .action(() => {
      throw new KvgateError(ErrorCode.Internal, '`kvgate cost` is not built yet');
    });
}
