/**
 * A hyperparameter sweep: a small ParameterGrid (a product axis, two linked axes, a parameter that
 * exists only for one model type, an excluded corner) expanded into named, validated experiment configs.
 *
 *   node --import tsx examples/experiments.ts
 */
import { NamingStrategy, ParameterGrid, ParameterGridSearch } from 'elastic-harness/experiments';

const search = new ParameterGridSearch({
  experimentName: 'mnist',
  model: { type: 'mlp', hidden_size: 64 },
  optimizer: { type: 'adam', lr: 1e-3 },
  training: { max_epochs: 2, batch_size: 32 },
});
search.setNamingStrategy(NamingStrategy.PARAMETER_BASED);
search.addGrid(
  new ParameterGrid('small')
    .addParameter('optimizer.lr', [1e-3, 3e-3])
    .addLinkedParameters({ 'model.hidden_size': [64, 128], 'training.batch_size': [32, 64] }) // vary together
    .addParameter('model.type', ['mlp', 'cnn'])
    .addConditionalParameter('model.kernel_size', [3, 5], { 'model.type': 'cnn' }) // only for the CNN
    .addExclusion({ 'model.type': 'cnn', 'model.hidden_size': 128 }),
);

console.log(`${search.getTotalExperiments()} experiments:`);
for (const config of search.generateExperiments()) { // lazy: each config merged onto the base and validated
  console.log(`  ${config.experimentName.padEnd(64)} model ${JSON.stringify(config.model)}, lr ${String(config.optimizer.lr)}`);
}
