/**
 * Run configuration: flat JSON with PaddleNLP / Hugging Face key names. {@link
 * dev.tfdpo.trainer.config.ConfigKey} declares every key once (name, aliases, type, default, valid
 * values, section, doc); {@link dev.tfdpo.trainer.config.TrainConfig} parses and checks against it and
 * fills one record per section; {@link dev.tfdpo.trainer.config.ConfigTable} writes the reference page.
 *
 * <p>May import: {@code dev.tfdpo.ops} (loss and schedule names, library defaults), {@code
 * dev.tfdpo.data} (data option names), {@code dev.tfdpo.io} (strict JSON, name suggestions), Gson.
 * Nothing of the trainer, graphs or export.
 */
package dev.tfdpo.trainer.config;
