"""Question banks, quizzes (知识竞赛, 闯关), server-owned attempts, leaderboards and item statistics."""
