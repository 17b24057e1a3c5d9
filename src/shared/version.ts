/** The package version, reported by `kvgate --version`, /version and User-Agent headers. */
export const VERSION = '0.1.0';
