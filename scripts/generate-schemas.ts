/**
 * Writes the JSON Schema of every protocol v1 message into docs/schemas/, from the zod
 * schemas in src/protocol/messages.ts (the single source). `npm run gen` runs it; a unit
 * test fails when the committed files drift from the schemas.
 */
import { z } from 'zod';
import { ack, ackReply, callResult, deadLetter, dialRequest, liveConfig } from '../src/protocol/messages.js';

const MESSAGES: Record<string, { schema: z.ZodType; title: string; description: string; io: 'input' | 'output' }> = {
  'dial-request': { schema: dialRequest, title: 'Dial request', description: 'Multcall → worker: one call to place. LPUSH to multcall:{<celula>}:dial.', io: 'input' },
  ack: { schema: ack, title: 'ACK', description: 'Worker → Multcall: the central accepted the Originate. LPUSHed to multcall:{<celula>}:acks.', io: 'output' },
  'ack-reply': { schema: ackReply, title: 'ACK reply', description: 'Multcall → worker: the CodLigacao of the call. LPUSH to the ACK\'s replyTo list.', io: 'input' },
  result: { schema: callResult, title: 'Call result', description: 'Worker → Multcall: the one result of a request. LPUSHed to multcall:{<celula>}:results.', io: 'output' },
  'dead-letter': { schema: deadLetter, title: 'Dead letter', description: 'A message that could not be accepted, with the reason. LPUSHed to multcall:{<celula>}:dead.', io: 'output' },
  'live-config': { schema: liveConfig, title: 'Live parameters', description: 'Fields of the multcall:{<celula>}:config hash (values are strings in Redis).', io: 'input' },
};

export function generateSchemas(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, m] of Object.entries(MESSAGES)) {
    const json = z.toJSONSchema(m.schema, { io: m.io, unrepresentable: 'any' });
    const document = { $id: `https://multcall.zanc.com.br/schemas/v1/${name}.json`, title: m.title, description: m.description, ...json };
    files[`docs/schemas/${name}.schema.json`] = `${JSON.stringify(document, null, 2)}\n`;
  }
  return files;
}

