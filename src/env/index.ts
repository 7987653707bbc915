export { checkEnvironment, type CheckRow, type CheckStatus, type EnvironmentReport } from './check';
export { probeTool, INSTALL_HINTS, type ToolStatus } from './tools';
export { showEnvironment } from './show';
