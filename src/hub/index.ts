/** Hugging Face Hub: snapshots into the cache shared with Python, tokens, offline mode. */
export { HubError, blobPath, escapeFnmatch, filterFiles, fnmatchToRegExp, hubFile, isLocalDir, repoCacheDir, snapshot, validateRepoId } from './snapshot';
export type { RepoType, SnapshotOptions } from './snapshot';
export { DEFAULT_ENDPOINT, hfHome, hubCacheDir, hubEndpoint, isOffline, redact, resolveToken, tokenPath } from './env';
export { terminalProgressBar } from './progress';
export type { DownloadProgress } from './progress';
export { pushFolderToHub } from './upload';
export type { PushOptions, PushResult } from './upload';
