/**
 * What every command-line entry point shares: {@link dev.tfdpo.cli.Cli}, the wrapper that turns a
 * tool's failure into one message and a documented exit status (the trace only with {@code --debug}),
 * and the {@code --help} text of the config keys. May import every other package of the project; no
 * other package imports this one except the entry points' {@code main} methods.
 */
package dev.tfdpo.cli;
