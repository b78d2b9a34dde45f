// Crash-consistency child: saves checkpoints to argv[2] in a loop until it is killed.
// Round r's file carries metadata round = r, and its out.bias is filled with r, so the
// parent can tell a complete file of any round from a torn one.
import { createModel, saveCheckpoint } from '../../dist/src/index.js';

const path = process.argv[2];
const m = await createModel({ cell: 'lstm', inputSize: 8, hiddenSize: 192, outputSize: 8, backend: 'js' });
for (let round = 1; ; round++) {
  const sd = m.stateDict();
  sd['out.bias'].data.fill(round);
  m.loadStateDict(sd);
  await saveCheckpoint(m, path, { metadata: { round: String(round) } });
  if (round === 1) process.stdout.write('ready\n');
}
