/**
 * The trade table, mapped 1:1 from the one definition in `functions/resources.ts` (keys, indexes, TTL
 * attribute, point-in-time recovery), encrypted with the AWS-managed DynamoDB key, on-demand billing.
 */
import { CfnOutput, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import type { KeyAttribute, TableShape } from '../functions/resources.js';
import { tableShape } from '../functions/resources.js';

function attribute(k: KeyAttribute): dynamodb.Attribute {
  return {
    name: k.name,
    type: k.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER,
  };
}

/** Properties of {@link TradeTable}. */
export interface TradeTableProps {
  /** The shape to map (default: the engine's {@link tableShape}). */
  readonly shape?: TableShape;
  /** What happens to the table when the stack is deleted (default RETAIN: trade history is kept). */
  readonly removalPolicy?: RemovalPolicy;
}

/** The DynamoDB table holding trades, audit events, intents, control state, breakers and leases. */
export class TradeTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: TradeTableProps = {}) {
    super(scope, id);
    const shape = props.shape ?? tableShape;
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: attribute(shape.partitionKey),
      sortKey: attribute(shape.sortKey),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: shape.pointInTimeRecovery },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: shape.timeToLiveAttribute,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    for (const g of shape.gsis) {
      this.table.addGlobalSecondaryIndex({
        indexName: g.indexName,
        partitionKey: attribute(g.partitionKey),
        sortKey: attribute(g.sortKey),
        projectionType:
          g.projection === 'ALL' ? dynamodb.ProjectionType.ALL : dynamodb.ProjectionType.KEYS_ONLY,
      });
    }
    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'The trade table' });
  }
}
