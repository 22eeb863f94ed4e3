// @sealkit/kms-aws: a KeyProvider over AWS KMS for Node, browsers and edge runtimes.

export { isKeyArn, type KmsArn, parseKmsArn } from "./arn.js";
export {
  AWS_KMS_PROVIDER_ID,
  type AwsKmsProvider,
  type AwsKmsProviderOptions,
  awsKmsProvider,
  type DiscoveryFilter,
  type KmsClientLike,
} from "./aws-kms-provider.js";
export { fromKmsError } from "./errors.js";
