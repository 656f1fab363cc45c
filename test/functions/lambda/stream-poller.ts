// Stands in for Lambda's event source mapping in the tests: reads the table's
// real DynamoDB Stream on DynamoDB Local (DescribeStream, GetShardIterator,
// GetRecords over its JSON protocol) and hands the records to the indexer
// handler, as batches shaped like Lambda's DynamoDB Streams event. The records
// are exactly those the stream holds; the test decides the delivery order.
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { StreamRecord } from '../../../functions/lambda/indexer.ts';

export class StreamPoller {
  private iterators = new Map<string, string | null>();

  private constructor(private readonly endpoint: string, private readonly streamArn: string) {}

  static async open(client: DynamoDBClient, endpoint: string, table: string): Promise<StreamPoller> {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    if (!Table?.LatestStreamArn) throw new Error(`table ${table} has no stream`);
    return new StreamPoller(endpoint, Table.LatestStreamArn);
  }

  /** Every record appended since the last call, in stream order, over all shards. */
  async poll(): Promise<StreamRecord[]> {
    const { StreamDescription } = await this.call('DescribeStream', { StreamArn: this.streamArn }) as { StreamDescription: { Shards: { ShardId: string }[] } };
    const out: StreamRecord[] = [];
    for (const { ShardId } of StreamDescription.Shards) {
      if (!this.iterators.has(ShardId)) {
        const { ShardIterator } = await this.call('GetShardIterator', { StreamArn: this.streamArn, ShardId, ShardIteratorType: 'TRIM_HORIZON' }) as { ShardIterator: string };
        this.iterators.set(ShardId, ShardIterator);
      }
      for (let iterator = this.iterators.get(ShardId); iterator;) {
        const page = await this.call('GetRecords', { ShardIterator: iterator, Limit: 1000 }) as { Records: StreamRecord[]; NextShardIterator?: string };
        out.push(...page.Records.map((r) => ({ ...r, eventSource: 'aws:dynamodb', eventSourceARN: this.streamArn })));
        this.iterators.set(ShardId, page.NextShardIterator ?? null);
        if (page.Records.length === 0 || !page.NextShardIterator) break;
        iterator = page.NextShardIterator;
      }
    }
    return out;
  }

  private async call(operation: string, body: unknown): Promise<unknown> {
    const response = await fetch(this.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `DynamoDBStreams_20120810.${operation}`,
        // DynamoDB Local reads the access key from the credential scope and checks no signature.
        authorization: 'AWS4-HMAC-SHA256 Credential=S3RVER/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`DynamoDB Streams ${operation}: HTTP ${response.status}: ${text}`);
    return JSON.parse(text);
  }
}
