/**
 * Run configuration: flat JSON with PaddleNLP / Hugging Face key names, one record per section,
 * defaults as named constants in {@link dev.tfdpo.trainer.config.ConfigKey}, validated on load.
 */
package dev.tfdpo.trainer.config;
