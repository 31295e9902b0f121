/**
 * One Lambda function per handler: the bundling, runtime and logging settings every handler shares, and
 * its own IAM role (least privilege: the role starts with nothing but write access to the function's log
 * group; each concern grants what the handler needs).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** Context key that makes template-assertion tests use inline stub code instead of esbuild bundles. */
export const INLINE_CODE_CONTEXT = 'tradewarden:inlineCodeForTests';

/** CloudWatch metrics namespace of the engine's EMF metrics (Powertools). */
export const METRICS_NAMESPACE = 'Tradewarden';

/**
 * ESM bundles run CommonJS dependencies (ccxt's) through `require`; this banner defines it.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

/** Settings of one handler function. */
export interface HandlerSpec {
  /** The service name: `POWERTOOLS_SERVICE_NAME` and the `Service` dimension of its metrics. */
  readonly service: string;
  /** Path of the handler file (exports `handler`), relative to the repository root. */
  readonly entry: string;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  /** What the handler does (the function's description). */
  readonly description: string;
}

/**
 * The handler files that must exist before the app can be synthesized, checked all at once so the error
 * names every missing file. Throws an Error listing them.
 */
export function assertEntriesExist(repoRoot: string, entries: readonly string[]): void {
  const missing = entries.filter((e) => !existsSync(join(repoRoot, e)));
  if (missing.length > 0) {
    throw new Error(
      `cannot synthesize the Tradewarden stack: handler entry file(s) missing: ${missing.join(', ')} ` +
        `(each must export \`handler\`; paths are relative to ${repoRoot})`,
    );
  }
}

/** Properties of {@link HandlerFunction}. */
export interface HandlerFunctionProps {
  readonly spec: HandlerSpec;
  /** The repository root (entry paths, tsconfig and the lock file are resolved from it). */
  readonly repoRoot: string;
  /** Environment variables besides the common ones (never secret values: only names, ARNs, URLs). */
  readonly environment?: Record<string, string>;
  /** Days of log retention. */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * A Node.js 22 arm64 Lambda function bundled locally with esbuild (ESM, minified, source maps), with
 * X-Ray tracing, its own log group and its own role. Powertools reads its settings from the environment
 * (`POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`, `POWERTOOLS_LOG_LEVEL`).
 */
export class HandlerFunction extends Construct {
  readonly fn: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly spec: HandlerSpec;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);
    const { spec, repoRoot } = props;
    this.spec = spec;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Role of the ${spec.service} handler`,
    });
    this.logGroup.grantWrite(this.role);

    const common = {
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: spec.memoryMb,
      timeout: Duration.seconds(spec.timeoutSeconds),
      description: spec.description,
      role: this.role,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        POWERTOOLS_SERVICE_NAME: spec.service,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
    };

    if (this.node.tryGetContext(INLINE_CODE_CONTEXT) === true) {
      // Template-assertion tests only: same settings, stub code, no bundling.
      this.fn = new lambda.Function(this, 'Function', {
        ...common,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async () => undefined;'),
      });
    } else {
      assertEntriesExist(repoRoot, [spec.entry]);
      this.fn = new NodejsFunction(this, 'Function', {
        ...common,
        entry: join(repoRoot, spec.entry),
        handler: 'handler',
        projectRoot: repoRoot,
        depsLockFilePath: join(repoRoot, 'package-lock.json'),
        bundling: {
          forceDockerBundling: false,
          format: OutputFormat.ESM,
          target: 'node22',
          mainFields: ['module', 'main'],
          minify: true,
          sourceMap: true,
          sourceMapMode: SourceMapMode.DEFAULT,
          sourcesContent: false,
          banner: ESM_REQUIRE_BANNER,
          tsconfig: join(repoRoot, 'tsconfig.json'),
          // The SDK is bundled (the version the tests ran against); undici is optional for ccxt (it falls
          // back to Node's fetch); protobufjs (ccxt's dYdX/MEXC code only) is replaced by a stand-in.
          bundleAwsSDK: true,
          externalModules: ['undici'],
          esbuildArgs: { '--alias': 'protobufjs=./functions/vendor-stubs/protobufjs' },
          logLevel: LogLevel.ERROR,
        },
      });
    }
    Validations.of(this).acknowledge({
      id: 'AwsSolutions::AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the handlers are built (esbuild target node22) and tested for; ' +
        'a newer runtime is adopted deliberately, not by the linter.',
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level ' +
        'permissions (the only wildcard statement on a handler role).',
    });
  }

  /** Adds one IAM statement (`actions` on `resources`) to this handler's role. */
  allow(actions: string[], resources: string[]): void {
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources }));
  }
}
