export { startK8sApiServer } from './api-server.js'
export type {
  K8sApiServerHandle,
  K8sApiServerOptions,
  K8sObject,
  K8sRequestRecord,
  K8sResource,
  KubeConfigOptions,
} from './api-server.js'
