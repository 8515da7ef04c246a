"""How an answer's Markdown is shown: streamed into the widget in bounded batches (`feed`), its
finished blocks pictured while it streams (`freeze`), streamed tables and blocks checked and
repaired when it ends (`repair`), and the widget itself (`answer`), all parsed alike (`parser`);
`frames` paces the work by the screen's frames.
The message widgets that hold it are in tui/widgets/message.py."""
