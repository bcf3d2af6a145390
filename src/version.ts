/** The tool version, stamped into manifests and result records. Kept in step with package.json by a unit test. */
export const TOOL_VERSION = '0.1.0';
