// defaultKeyPolicy: the key policy AWS KMS gives a key created without one.

const ACCOUNT_ID = /^\d{12}$/;
const PARTITION = /^aws(-[a-z]+)*$/;

/**
 * The key policy AWS KMS applies when CreateKey gets none: one statement, "Enable IAM User Permissions", letting
 * the account root do everything (`kms:*`) on the key. In this local KMS the account root stands for every
 * principal of the account (there is no IAM), so every principal of `account` may use and manage the key.
 *
 * @param account The 12-digit account id that owns the key.
 * @param partition The ARN partition ("aws", "aws-cn", "aws-us-gov", ...).
 * @returns The policy as JSON text, formatted as AWS returns it from GetKeyPolicy.
 * @throws TypeError when `account` is not 12 digits or `partition` is not a partition name.
 */
export function defaultKeyPolicy(account: string, partition = "aws"): string {
  if (typeof account !== "string" || !ACCOUNT_ID.test(account)) {
    throw new TypeError(`"account" expected a 12-digit account id, got ${JSON.stringify(account)}`);
  }
  if (typeof partition !== "string" || !PARTITION.test(partition)) {
    throw new TypeError(`"partition" expected a partition such as "aws", got ${JSON.stringify(partition)}`);
  }
  return JSON.stringify(
    {
      Version: "2012-10-17",
      Id: "key-default-1",
      Statement: [
        {
          Sid: "Enable IAM User Permissions",
          Effect: "Allow",
          Principal: { AWS: `arn:${partition}:iam::${account}:root` },
          Action: "kms:*",
          Resource: "*",
        },
      ],
    },
    null,
    2,
  );
}
