// The AWS Lambda function-URL adapter of the router (payload format 2.0): the
// event in, the response out. The serverless deployment only wraps this with
// its own database and authenticator; routing, limits and errors are the
// router's, the same as `hyperspace serve`.
import type { HttpResponse, Router } from './router.ts';

/** The fields of a function-URL (API Gateway v2 shaped) event this adapter reads. */
export interface FunctionUrlEvent {
  rawPath: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext: { http: { method: string; sourceIp?: string } };
}

export interface FunctionUrlResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

export async function handleLambdaEvent(router: Router, event: FunctionUrlEvent): Promise<FunctionUrlResult> {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  let body: Uint8Array | string | undefined;
  if (event.body !== undefined && event.body !== '') body = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : event.body;
  const response: HttpResponse = await router.handle({ method: event.requestContext.http.method.toUpperCase(), path: event.rawPath, headers, body });
  if (response.body instanceof Uint8Array) {
    return { statusCode: response.status, headers: response.headers, body: Buffer.from(response.body).toString('base64'), isBase64Encoded: true };
  }
  return { statusCode: response.status, headers: response.headers, body: response.body, isBase64Encoded: false };
}

/** A Lambda handler (`export const handler = createLambdaHandler(router)`). */
export function createLambdaHandler(router: Router): (event: FunctionUrlEvent) => Promise<FunctionUrlResult> {
  return (event) => handleLambdaEvent(router, event);
}
