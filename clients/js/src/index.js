// slipway-client: Slipway from JavaScript.

export { Slipway, DEFAULT_SERVER } from "./slipway.js";
export { Cluster, TokenKeeper, isDue } from "./cluster.js";
export { SlipwayError, OperationFailed, CredentialsError } from "./errors.js";
export {
  credentialsPath,
  readCredentials,
  savedSession,
  saveSession,
  forgetSession,
} from "./credentials.js";

// The API's documents, as the OpenAPI document describes them (src/api.d.ts).
/** @typedef {import("./api.js").components} components */
/** @typedef {import("./api.js").paths} paths */
/** @typedef {import("./slipway.js").ActionResponse} ActionResponse */
/** @typedef {import("./slipway.js").ClusterStatus} ClusterStatus */
/** @typedef {import("./slipway.js").ClusterToken} ClusterToken */
/** @typedef {import("./slipway.js").CreateCluster} CreateCluster */
/** @typedef {import("./slipway.js").DeployCluster} DeployCluster */
/** @typedef {import("./slipway.js").DeviceCode} DeviceCode */
/** @typedef {import("./slipway.js").Event} Event */
/** @typedef {import("./slipway.js").OperationView} OperationView */
/** @typedef {import("./slipway.js").Session} Session */
/** @typedef {import("./slipway.js").WaitOptions} WaitOptions */
