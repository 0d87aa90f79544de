public enum SearchModule {}
