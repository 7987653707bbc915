import { showTable } from '../notebook/table';
import type { EnvironmentReport } from './check';

/** Shows the environment report as a table, colouring what is missing. */
export function showEnvironment(report: EnvironmentReport): void {
  showTable(report.rows, {
    caption: report.ok ? 'Environment: ready' : 'Environment: required parts missing (see fix column)',
    columns: ['component', 'need', 'status', 'found', 'fix'],
    cellClass: { status: (v) => (v === 'ok' ? 'ok' : v === 'warn' ? 'warn' : 'bad') },
  });
}
