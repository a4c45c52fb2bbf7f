"""A text classifier: token embeddings, a stacked bidirectional LSTM, a linear layer on the last step's features."""

from torch import nn


class BiLSTMClassifier(nn.Module):
    def __init__(self, vocab=50, dim=16, hidden=24, classes=4):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, tokens):
        out, _ = self.lstm(self.embedding(tokens))
        return self.fc(out[:, -1])
